import { readFileSync } from "node:fs";
import test from "ava";
import type { DeployHost } from "../../shared/api-types.ts";
import { applyDeployEvent, type DeployStreamEvent, type DeployView, deployView, parseStreamEvent } from "../../cli/deploy-view.ts";
import { renderDeployEvent } from "../../cli/render-deploy-event.ts";
import { renderDeploy, renderFailureLogs, renderHeader, renderSummary } from "../../cli/render-deploy.ts";
import { SseParser } from "../../cli/sse-stream.ts";

// A recorded stream of a rollout that fails on its second batch (written to
// docs/conductor-api.md's shapes): the canary succeeds, web-2 fails at restart
// while web-3 succeeds beside it, web-4 is skipped.
const recorded = readFileSync(new URL("../../../test/fixtures/conductor/failed-rollout.sse", import.meta.url), "utf8");
const now = Date.parse("2026-11-22T12:00:06.000Z");

function events(): DeployStreamEvent[] {
  return new SseParser().push(recorded).map((sse) => {
    const event = parseStreamEvent(sse);
    if (!event) throw new Error(`unknown event ${sse.event}`);
    return event;
  });
}

/** The view after each event, as the CLI folds them. */
function views(list = events()): DeployView[] {
  const out: DeployView[] = [];
  let view: DeployView | undefined;
  for (const event of list) {
    view = view ? applyDeployEvent(view, event) : deployView(event.data as Parameters<typeof deployView>[0]);
    out.push(view);
  }
  return out;
}

function finalView(): DeployView {
  const all = views();
  const last = all.at(-1);
  if (!last) throw new Error("no events");
  return last;
}

test("the live frame mid-rollout: the canary's release, the running hosts' step and clock, the waiting batch", (t) => {
  const list = events();
  const afterSteps = list.findIndex((e) => e.event === "step" && e.data.host === "web-3" && e.data.state === "started");
  const view = views(list)[afterSteps];
  t.deepEqual(renderDeploy(view as DeployView, { now }), [
    "shop → production  #42  v2.3.1 (1a2b3c4d)  running  0:05",
    "  deploy 17 by alice",
    "  batch 0 (canary)  1 succeeded",
    "    ✓ succeeded    web-1  20261122T120001-1a2b3c4d  3.2s",
    "  batch 1  2 running",
    "    … running      web-2  restart 0:01",
    "    … running      web-3  restart 0:01",
    "  batch 2  1 pending",
    "    · pending      web-4  waiting for its batch",
  ]);
  const betweenSteps = views(list)[list.findIndex((e) => e.event === "step" && e.data.step === "fetch" && e.data.state === "succeeded")];
  t.is(renderDeploy(betweenSteps as DeployView, { now })[3], "    … running      web-1  fetch succeeded", "between two steps, the last one says where the host is");
});

test("the final report says which host failed, at which step and why, with the last lines of its log", (t) => {
  const view = finalView();
  t.true(view.ended);
  t.deepEqual(renderDeploy(view, { now }), [
    "shop → production  #42  v2.3.1 (1a2b3c4d)  failed  0:07",
    "  deploy 17 by alice",
    "  web-2 failed at restart; the rollout stopped",
    "  batch 0 (canary)  1 succeeded",
    "    ✓ succeeded    web-1  20261122T120001-1a2b3c4d  3.2s",
    "  batch 1  1 succeeded, 1 failed",
    "    ✗ failed       web-2  at restart: restart script exited with status 1  2.1s",
    "    ✓ succeeded    web-3  20261122T120004-1a2b3c4d  3.0s",
    "  batch 2  1 skipped",
    "    - skipped      web-4  the rollout stopped: web-2 failed",
  ]);
  t.deepEqual(renderFailureLogs(view), [
    "",
    "web-2 failed at restart: restart script exited with status 1  2.1s",
    "  last 3 log lines:",
    "  web-2 | restarting shop",
    "  web-2 | Error: listen EADDRINUSE: address already in use :::8080",
    "  web-2 | restart script exited with status 1",
  ]);
  t.is(renderSummary(view, now), "shop → production #42 v2.3.1 failed after 7.5s: 2 succeeded, 1 failed, 1 skipped; web-2 failed at restart; the rollout stopped");
});

test("plain output is one line per event, each with its time and host", (t) => {
  const list = events();
  const all = views(list);
  const lines = list.flatMap((event, i) => renderDeployEvent(all[i] as DeployView, event, { now, utc: true }));
  t.deepEqual(lines, [
    "12:00:00 shop → production  #42  v2.3.1 (1a2b3c4d)  running, 4 hosts in 3 batches (deploy 17 by alice)",
    "12:00:01 web-1 batch 0 fetch started",
    "12:00:02 web-1 batch 0 fetch succeeded 0.8s",
    "12:00:02 web-1 batch 0 restart started",
    "12:00:02 web-1 | restarting shop",
    "12:00:03 web-1 | listening on :8080",
    "12:00:03 web-1 batch 0 restart succeeded 1.5s",
    "12:00:03 web-1 succeeded 20261122T120001-1a2b3c4d  3.2s",
    "12:00:04 web-2 batch 1 requested",
    "12:00:04 web-3 batch 1 requested",
    "12:00:05 web-2 batch 1 restart started",
    "12:00:05 web-3 batch 1 restart started",
    "12:00:05 web-2 | restarting shop",
    "12:00:06 web-2 | Error: listen EADDRINUSE: address already in use :::8080",
    "12:00:06 web-2 | restart script exited with status 1",
    "12:00:06 web-2 batch 1 restart failed 1.1s",
    "12:00:06 web-2 failed at restart: restart script exited with status 1  2.1s",
    "12:00:07 web-3 batch 1 restart succeeded 1.9s",
    "12:00:07 web-3 succeeded 20261122T120004-1a2b3c4d  3.0s",
    "12:00:06 web-4 skipped the rollout stopped: web-2 failed",
    "12:00:08 deploy #42 failed: web-2 failed at restart; the rollout stopped",
  ]);
});

test("a frame taller than the terminal folds finished batches, then succeeded hosts, then cuts with a note", (t) => {
  const view = finalView();
  const full = renderDeploy(view, { now });
  const folded = renderDeploy(view, { now, maxLines: 9 });
  t.true(folded.length <= 9);
  t.false(folded.some((line) => line.includes("web-1")), "the all-succeeded canary batch is one line");
  t.true(folded.some((line) => line.includes("✗ failed       web-2")), "the failed host stays");
  const tight = renderDeploy(view, { now, maxLines: 8 });
  t.is(tight.length, 8);
  t.false(tight.some((line) => line.includes("web-3")), "succeeded hosts go before failed ones");
  t.true(tight.some((line) => line.includes("web-2")));
  const cut = renderDeploy(view, { now, maxLines: 5 });
  t.is(cut.length, 5);
  t.regex(cut.at(-1) ?? "", /^… \d+ more lines: the report at the end lists every host$/);
  t.true(full.length > 9);
});

test("every outcome shows as a word and a symbol, colour only on top", (t) => {
  const base = finalView();
  const outcome = (host: Partial<DeployHost> & { host: string }): DeployHost => ({
    batch: 0,
    outcome: "pending",
    unexpected: false,
    release: null,
    previousRelease: null,
    failedStep: null,
    reason: null,
    requestedAt: null,
    finishedAt: null,
    durationMs: null,
    ...host,
  });
  const view: DeployView = {
    ...base,
    steps: [],
    batches: [{ batch: 0, hosts: ["a", "b", "d"] }],
    hosts: [
      outcome({ host: "a", outcome: "rolled-back", failedStep: "verify", reason: "health check failed", previousRelease: "r1" }),
      outcome({ host: "b", outcome: "refused", reason: "the request's signature has expired" }),
      outcome({ host: "c", batch: -1, outcome: "timeout", unexpected: true }),
      outcome({ host: "d", requestedAt: "2026-11-22T12:00:00.000Z" }),
    ],
  };
  const plain = renderDeploy(view, { now }).slice(4);
  t.deepEqual(plain, [
    "    ↺ rolled-back  a  at verify: health check failed; back on r1",
    "    ⊘ refused      b  the request's signature has expired",
    "    … running      d  waiting for the agent",
    "  not in the plan  1 timeout",
    "    ? timeout      c  no answer  (unexpected: not in the plan)",
  ]);
  t.regex(renderSummary(view, now), /: 1 rolled-back, 1 refused, 1 running, 1 unexpected;/, "an unexpected host is flagged, not counted");
  const coloured = renderDeploy(view, { now, color: true }).slice(4);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the colour to compare with the plain text.
  t.deepEqual(coloured.map((line) => line.replace(/\x1b\[[0-9;]*m/g, "")), plain);
  t.not(coloured.join(), plain.join());
});

test("a queued rollback says what it rolls back to and its place in the queue", (t) => {
  const { deploy } = finalView();
  const queued = { ...deploy, action: "rollback" as const, ref: "v2.3.0", state: "queued" as const, position: 2, startedAt: null, finishedAt: null, forced: true, message: null };
  t.is(renderHeader(queued, now), "shop → production  #42  rollback to v2.3.0 (1a2b3c4d)  queued (position 2)");
  const view: DeployView = { deploy: queued, hosts: [], steps: [], batches: [], logs: {}, ended: false };
  t.deepEqual(renderDeploy(view, { now }), [
    "shop → production  #42  rollback to v2.3.0 (1a2b3c4d)  queued (position 2)",
    "  deploy 17 by alice · CI gate forced",
    "  waiting for the deploy ahead of it to finish",
  ]);
});

test("a re-sent snapshot replaces the state and keeps the log lines already seen", (t) => {
  const view = finalView();
  const again = applyDeployEvent(view, { event: "snapshot", data: { deploy: view.deploy, hosts: view.hosts, steps: [], batches: view.batches } });
  t.is(again.logs["web-2"]?.length, 3);
  t.deepEqual(again.steps, []);
  const duplicate = applyDeployEvent(again, { event: "log", data: { host: "web-2", lines: view.logs["web-2"] ?? [] } });
  t.is(duplicate.logs["web-2"]?.length, 3, "lines seen twice are kept once");
});
