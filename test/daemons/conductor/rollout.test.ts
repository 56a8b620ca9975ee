import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix } from "../../helpers/test-bus.ts";
import { recordingScript } from "../deploy-agent/agent-fixture.ts";
import { currentOf, startFleet, waitFor } from "./fleet-fixture.ts";

// Rollouts end to end: the REST API, the conductor, real agents and a real git
// repository, on the embedded broker (the RabbitMQ run is in rollout-brokers.test.ts).

async function brokerUrl(t: import("ava").ExecutionContext): Promise<string> {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  return broker.url;
}

test("canary first, then batches: every host ends on the tag, in the planned order", async (t) => {
  const url = await brokerUrl(t);
  const hosts = ["web-1", "web-2", "web-3", "web-4", "web-5"];
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts, environments: [{ name: "production", rollout: { canary: 1, batch: 2 } }] });
  const id = await fleet.deploy(t, { ref: "v1" });
  const detail = await fleet.finished(id);
  t.is(detail.deploy.state, "succeeded", detail.deploy.message ?? "");
  t.deepEqual(
    detail.batches.map((b) => b.hosts),
    [["web-1"], ["web-2", "web-3"], ["web-4", "web-5"]],
  );
  for (const host of hosts) t.is(currentOf(fleet, host)?.content, "v1", host);
  // Each batch was asked only after the one before it had answered.
  const asked = (host: string) => Date.parse(detail.hosts.find((h) => h.host === host)?.requestedAt ?? "");
  const stepsOf = (host: string) => detail.steps.filter((s) => s.host === host);
  t.true(asked("web-2") >= asked("web-1"));
  t.true(asked("web-4") > asked("web-2"));
  t.true(stepsOf("web-3").some((s) => s.step === "link" && s.state === "succeeded"), "steps are recorded per host");
  t.is(detail.deploy.number, 1);
  const log = await fleet.call("GET", `/deploys/${id}/log?host=web-1`);
  t.true((log.body.lines as { text: string }[]).some((line) => line.text.length > 0), "the host's log is readable through the API");
});

test("a failing host stops the rollout and the hosts after it are skipped", async (t) => {
  const url = await brokerUrl(t);
  const hosts = ["app-1", "app-2", "app-3", "app-4"];
  const fleet = await startFleet(t, {
    url,
    prefix: uniquePrefix(),
    hosts,
    environments: [{ name: "production", rollout: { canary: 1, batch: 1 } }],
    agentApp: { scripts: { "pre-link": "bin/step" }, rollbackOnFailure: true },
  });
  await fleet.repo.commit({ "bin/step": { content: recordingScript, mode: 0o755 } }, "v3");
  writeFileSync(join(fleet.agentOut.get("app-2") as string, "fail-pre-link"), "");
  const id = await fleet.deploy(t, { ref: "v3" });
  const detail = await fleet.finished(id);
  t.is(detail.deploy.state, "failed");
  t.regex(detail.deploy.message ?? "", /app-2 failed at pre-link/);
  t.regex(detail.deploy.message ?? "", /2 hosts skipped/);
  const outcome = Object.fromEntries(detail.hosts.map((h) => [h.host, h.outcome]));
  t.deepEqual(outcome, { "app-1": "succeeded", "app-2": "failed", "app-3": "skipped", "app-4": "skipped" });
  t.false(existsSync(join(fleet.agentOut.get("app-3") as string, "pre-link.env")), "a skipped host never ran a script");
  t.is(currentOf(fleet, "app-3"), undefined);
  // The failed host's own log says what went wrong.
  const log = await fleet.call("GET", `/deploys/${id}/log?host=app-2`);
  t.true((log.body.lines as { text: string }[]).some((line) => line.text.includes("pre-link fails on purpose")));
});

test("a host that never answers times out, and the budget decides whether the rollout goes on", async (t) => {
  const url = await brokerUrl(t);
  const fleet = await startFleet(t, {
    url,
    prefix: uniquePrefix(),
    hosts: ["db-2", "db-3"],
    spawned: ["db-1"],
    environments: [{ name: "production", rollout: { canary: 0, batch: 1, failureBudget: 1 } }],
    // Long enough for the healthy hosts on a loaded machine; the hung one uses all of it.
    conductor: { hostTimeout: 6_000 },
  });
  // db-1 hangs: still alive to the conductor (it said so moments ago), deaf to requests.
  fleet.children.get("db-1")?.kill("SIGSTOP");
  const id = await fleet.deploy(t, { ref: "v1" });
  const detail = await fleet.finished(id);
  const db1 = detail.hosts.find((h) => h.host === "db-1");
  t.is(db1?.outcome, "timeout");
  t.regex(db1?.reason ?? "", /did not answer within the host timeout/);
  t.is(detail.deploy.state, "succeeded", "one failure is within a budget of one");
  t.regex(detail.deploy.message ?? "", /within the failure budget/);
  t.is(currentOf(fleet, "db-3")?.content, "v1");
});

test("a locked environment refuses deploys with 409, and unlocking lets them through", async (t) => {
  const url = await brokerUrl(t);
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts: ["web-1"] });
  const lock = await fleet.call("PUT", "/apps/shop/environments/production/lock", { reason: "database migration", expiresIn: "1h" });
  t.is(lock.status, 200, JSON.stringify(lock.body));
  const refused = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v1" }, "deployer");
  t.is(refused.status, 409);
  t.is(refused.body.error?.code, "locked");
  t.regex(refused.body.error?.message ?? "", /locked by ada .*database migration/);
  t.is((await fleet.call("GET", "/deploys")).body.deploys?.toString(), "", "nothing was queued");
  t.is((await fleet.call("DELETE", "/apps/shop/environments/production/lock")).status, 200);
  t.is((await fleet.call("DELETE", "/apps/shop/environments/production/lock")).body.error?.code, "not-found");
  const id = await fleet.deploy(t, { ref: "v1" });
  t.is((await fleet.finished(id)).deploy.state, "succeeded");
});

test("deploys of one environment queue in order and start by themselves", async (t) => {
  const url = await brokerUrl(t);
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts: ["web-1"], agentApp: { scripts: { "pre-link": "bin/step" } } });
  await fleet.repo.commit({ "bin/step": { content: recordingScript, mode: 0o755 }, "index.html": "v3\n" }, "v3");
  await fleet.repo.commit({ "index.html": "v4\n" }, "v4");
  await fleet.repo.commit({ "index.html": "v5\n" }, "v5");
  const out = fleet.agentOut.get("web-1") as string;
  writeFileSync(join(out, "block-pre-link"), "");
  const first = await fleet.deploy(t, { ref: "v3" });
  await waitFor(() => existsSync(join(out, "blocked-pre-link")), 20_000, "the first deploy to block in pre-link");
  unlinkSync(join(out, "block-pre-link"));
  const second = await fleet.deploy(t, { ref: "v4" });
  const third = await fleet.deploy(t, { ref: "v5" });
  const queued = (await fleet.call("GET", `/deploys?app=shop&state=queued`)).body.deploys as { id: number; position: number }[];
  t.deepEqual(
    queued.map((d) => [d.id, d.position]),
    [
      [third, 2],
      [second, 1],
    ],
  );
  // Unblock: the first one finishes (cancelled here, to be quick), then the queue runs in order.
  t.is((await fleet.call("POST", `/deploys/${first}/cancel`, undefined, "deployer")).status, 200);
  const firstDone = await fleet.finished(first);
  t.is(firstDone.deploy.state, "cancelled");
  const secondDone = await fleet.finished(second);
  const thirdDone = await fleet.finished(third);
  t.is(secondDone.deploy.state, "succeeded", secondDone.deploy.message ?? "");
  t.is(thirdDone.deploy.state, "succeeded", thirdDone.deploy.message ?? "");
  t.true(Date.parse(String((secondDone.deploy as unknown as { finishedAt: string }).finishedAt)) <= Date.parse(String((thirdDone.deploy as unknown as { startedAt: string }).startedAt)));
  t.is(currentOf(fleet, "web-1")?.content, "v5", "the last one queued is what runs");
});

test("the CI gate refuses a red sha, an admin may force it and that is recorded", async (t) => {
  const url = await brokerUrl(t);
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts: ["web-1"], environments: [{ name: "production", gate: { jobs: ["shop-tests"] } }] });
  const sha = await fleet.repo.git(["rev-parse", "v1^{commit}"]);
  const bus = (await import("../../helpers/test-bus.ts")).testBus(fleet.options.url, fleet.options.prefix);
  t.teardown(() => bus.close({ graceMs: 0 }));
  await bus.publish("builds", { job: "shop-tests", number: 7, phase: "failed", repo: "acme/shop", ref: "v1", sha });
  await waitFor(async () => {
    const refs = (await fleet.call("GET", "/apps/shop/refs")).body.refs as { name: string; build: string }[];
    return refs?.find((r) => r.name === "v1")?.build === "failed";
  }, 10_000, "the red build to be known");
  const red = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v1" }, "deployer");
  t.is(red.status, 422);
  t.is(red.body.error?.code, "ci-gate");
  t.regex(red.body.error?.message ?? "", /shop-tests failed \(#7\)/);
  const deployerForce = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v1", force: true }, "deployer");
  t.is(deployerForce.status, 403);
  const forced = await fleet.deploy(t, { ref: "v1", force: true }, "admin");
  const detail = await fleet.finished(forced);
  t.true(detail.deploy.forced);
  await bus.publish("builds", { job: "shop-tests", number: 8, phase: "succeeded", repo: "acme/shop", ref: "v2", sha: await fleet.repo.git(["rev-parse", "v2^{commit}"]) });
  await waitFor(async () => (await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v2" }, "deployer")).status === 201, 10_000, "a green sha to deploy");
});

test("rollback deploys the previous successful release again on every host", async (t) => {
  const url = await brokerUrl(t);
  const hosts = ["web-1", "web-2"];
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts });
  const first = await fleet.deploy(t, { ref: "v1" });
  t.is((await fleet.finished(first)).deploy.state, "succeeded");
  const second = await fleet.deploy(t, { ref: "v2" });
  t.is((await fleet.finished(second)).deploy.state, "succeeded");
  for (const host of hosts) t.is(currentOf(fleet, host)?.content, "v2");
  const answer = await fleet.call("POST", `/deploys/${second}/rollback`, undefined, "deployer");
  t.is(answer.status, 201, JSON.stringify(answer.body));
  const rollback = answer.body.deploy as { id: number; action: string; ref: string; rollbackOf: number };
  t.is(rollback.action, "rollback");
  t.is(rollback.ref, "v1");
  t.is(rollback.rollbackOf, second);
  t.is((await fleet.finished(rollback.id)).deploy.state, "succeeded");
  for (const host of hosts) t.is(currentOf(fleet, host)?.content, "v1", host);
  const nothing = await fleet.call("POST", `/deploys/${first}/rollback`, undefined, "deployer");
  t.is(nothing.body.error?.code, "nothing-to-roll-back");
});

test("hosts asked for by name get the deploy and no others; an answer from a host nobody asked is flagged, not counted; deploy.events follows every state", async (t) => {
  const url = await brokerUrl(t);
  const fleet = await startFleet(t, { url, prefix: uniquePrefix(), hosts: ["web-1", "web-2"], agentApp: { scripts: { "pre-link": "bin/step" } } });
  await fleet.repo.commit({ "bin/step": { content: recordingScript, mode: 0o755 }, "index.html": "v3\n" }, "v3");
  const bus = testBus(fleet.options.url, fleet.options.prefix);
  t.teardown(() => bus.close({ graceMs: 0 }));
  const events: { state: string; id?: number }[] = [];
  await bus.subscribe("deploy.events", (message) => void events.push(message.body));
  const out = fleet.agentOut.get("web-1") as string;
  writeFileSync(join(out, "block-pre-link"), "");
  const id = await fleet.deploy(t, { ref: "v3", hosts: ["web-1"] });
  await waitFor(() => existsSync(join(out, "blocked-pre-link")), 20_000, "web-1 to be deploying");
  const uid = ((await fleet.call("GET", `/deploys/${id}`)).body.deploy as { uid: string }).uid;
  await bus.publish("deploy.results", { deployId: uid, host: "intruder", outcome: "failed", durationMs: 1, reason: "not asked" });
  await waitFor(async () => ((await fleet.call("GET", `/deploys/${id}`)).body.hosts as { host: string }[]).some((h) => h.host === "intruder"), 10_000, "the intruder to be recorded");
  unlinkSync(join(out, "block-pre-link"));
  process.kill(Number(readFileSync(join(out, "pre-link.pid"), "utf8")), "SIGTERM");
  const detail = await fleet.finished(id);
  // web-1's pre-link was killed, so it failed; the intruder's "failed" is not what decided that.
  const intruder = detail.hosts.find((h) => h.host === "intruder");
  t.is(intruder?.unexpected, true);
  t.is(intruder?.batch, -1);
  t.deepEqual(detail.batches.map((b) => b.hosts), [["web-1"]]);
  t.is(currentOf(fleet, "web-2"), undefined, "web-2 was not asked");
  t.false(existsSync(join(fleet.agentOut.get("web-2") as string, "pre-link.env")));
  t.regex(detail.deploy.message ?? "", /web-1 failed at pre-link/);
  t.notRegex(detail.deploy.message ?? "", /intruder/);
  await waitFor(() => events.filter((e) => e.id === id).length >= 3, 5_000, "deploy.events");
  t.deepEqual(
    events.filter((e) => e.id === id).map((e) => e.state),
    ["queued", "running", "failed"],
  );
});
