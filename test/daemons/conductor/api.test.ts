import { existsSync } from "node:fs";
import test, { type ExecutionContext } from "ava";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { uniquePrefix } from "../../helpers/test-bus.ts";
import { type Fleet, startFleet } from "./fleet-fixture.ts";

// The REST API's edges: tokens and roles, validation, refs built to inject,
// the stream, and errors as JSON with a stable code.

let fleet: Fleet;
// One fleet for the whole file; hooks cannot register teardowns, so they are kept here.
const teardowns: (() => unknown)[] = [];

test.before(async () => {
  const broker = await startTestBroker();
  teardowns.push(() => broker.close());
  const hook = { teardown: (fn: () => unknown) => void teardowns.push(fn), log: () => undefined } as unknown as ExecutionContext;
  fleet = await startFleet(hook, { url: broker.url, prefix: uniquePrefix(), hosts: ["web-1"] });
});

test.after.always(async () => {
  for (const teardown of teardowns.reverse()) await teardown();
});

test.serial("no token is 401 with a Bearer challenge, an unknown one too; health needs none", async (t) => {
  const none = await fetch(`${fleet.api}/apps`);
  t.is(none.status, 401);
  t.is(none.headers.get("www-authenticate")?.startsWith("Bearer"), true);
  t.is(((await none.json()) as { error: { code: string } }).error.code, "unauthenticated");
  const forged = await fetch(`${fleet.api}/apps`, { headers: { authorization: "Bearer dk_notatoken" } });
  t.is(forged.status, 401);
  const health = await fetch(`${fleet.api}/health`);
  t.is(health.status, 200);
  t.is(((await health.json()) as { ledger: string }).ledger, "sqlite");
});

test.serial("roles: a viewer reads but may not deploy, a deployer may not lock", async (t) => {
  t.is((await fleet.call("GET", "/apps", undefined, "viewer")).status, 200);
  const deploy = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v1" }, "viewer");
  t.is(deploy.status, 403);
  t.is(deploy.body.error?.code, "forbidden");
  t.regex(deploy.body.error?.message ?? "", /vera is a viewer; this needs deployer/);
  const lock = await fleet.call("PUT", "/apps/shop/environments/production/lock", { reason: "x" }, "deployer");
  t.is(lock.status, 403);
  t.is((await fleet.call("GET", "/deploys", undefined, "viewer")).body.deploys?.toString(), "", "the refused deploy left nothing behind");
});

test.serial("refs built to inject are refused with 400 before they reach git, and nothing runs", async (t) => {
  const marker = `/tmp/deploykit-pwned-${process.pid}`;
  for (const ref of [`--upload-pack=touch ${marker}`, "-x", `$(touch ${marker})`, "v1..v2", "HEAD@{1}", "v1;touch x", "refs/../../etc"]) {
    const answer = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref }, "deployer");
    t.is(answer.status, 400, ref);
    t.is(answer.body.error?.code, "invalid-ref", ref);
  }
  t.false(existsSync(marker));
  const unknown = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v9" }, "deployer");
  t.is(unknown.status, 422);
  t.is(unknown.body.error?.code, "unknown-ref");
  t.is((await fleet.call("GET", "/deploys")).body.deploys?.toString(), "");
});

test.serial("bad bodies, unknown apps and hosts get their own codes", async (t) => {
  const cases: [unknown, number, string][] = [
    [{ app: "shop", environment: "production" }, 400, "invalid-request"],
    [{ app: "Shop!", environment: "production", ref: "v1" }, 400, "invalid-request"],
    [{ app: "shop", environment: "production", ref: "v1", extra: 1 }, 400, "invalid-request"],
    [{ app: "nope", environment: "production", ref: "v1" }, 404, "not-found"],
    [{ app: "shop", environment: "staging", ref: "v1" }, 404, "not-found"],
    [{ app: "shop", environment: "production", ref: "v1", hosts: ["web-9"] }, 422, "no-hosts"],
  ];
  for (const [body, status, code] of cases) {
    const answer = await fleet.call("POST", "/deploys", body, "deployer");
    t.is(answer.status, status, JSON.stringify(body));
    t.is(answer.body.error?.code, code, JSON.stringify(body));
  }
  const broken = await fetch(`${fleet.api}/deploys`, { method: "POST", headers: { authorization: `Bearer ${fleet.tokens.deployer}`, "content-type": "application/json" }, body: "{not json" });
  t.is(broken.status, 400);
  t.is(((await broken.json()) as { error: { code: string } }).error.code, "invalid-request");
  t.is((await fleet.call("GET", "/deploys/abc")).body.error?.code, "invalid-request");
  t.is((await fleet.call("GET", "/deploys/999")).status, 404);
  t.is((await fleet.call("GET", "/no/such/route")).body.error?.code, "not-found");
  const hosts = await fleet.call("POST", "/deploys", { app: "shop", environment: "production", ref: "v1", hosts: ["web-9"] }, "deployer");
  t.regex(hosts.body.error?.message ?? "", /web-9 has never been seen/);
});

test.serial("apps, refs and hosts say what runs where", async (t) => {
  const refs = (await fleet.call("GET", "/apps/shop/refs", undefined, "viewer")).body.refs as { name: string; kind: string; sha: string; build: string }[];
  t.deepEqual(
    refs.map((r) => [r.name, r.kind, r.build]),
    [
      ["v2", "tag", "unknown"],
      ["v1", "tag", "unknown"],
      ["main", "branch", "unknown"],
    ],
  );
  t.is(refs[0]?.sha, await fleet.repo.git(["rev-parse", "v2^{commit}"]));
  const hosts = (await fleet.call("GET", "/hosts", undefined, "viewer")).body.hosts as { host: string; alive: boolean; apps: Record<string, unknown> }[];
  t.deepEqual(hosts.map((h) => [h.host, h.alive, Object.keys(h.apps)]), [["web-1", true, ["shop"]]]);
});

test.serial("the stream sends a snapshot, then every step and log line live, then ends", async (t) => {
  const id = await fleet.deploy(t, { ref: "v2" });
  const response = await fetch(`${fleet.api}/deploys/${id}/stream`, { headers: { authorization: `Bearer ${fleet.tokens.viewer}` } });
  t.is(response.headers.get("content-type"), "text/event-stream; charset=utf-8");
  const text = await response.text();
  const events = [...text.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]);
  t.is(events[0], "snapshot");
  t.is(events.at(-1), "end");
  t.true(events.includes("deploy"));
  t.true(events.includes("host") || text.includes('"outcome":"succeeded"'));
  const deployEvents = [...text.matchAll(/^event: deploy\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1] as string) as { state: string });
  t.is(deployEvents.at(-1)?.state, "succeeded");
  // A finished deploy's stream is a snapshot and the end.
  const again = await (await fetch(`${fleet.api}/deploys/${id}/stream`, { headers: { authorization: `Bearer ${fleet.tokens.viewer}` } })).text();
  t.deepEqual([...again.matchAll(/^event: (\w+)$/gm)].map((m) => m[1]), ["snapshot", "end"]);
});

test.serial("GET /metrics serves Prometheus text with the conductor's gauges", async (t) => {
  const text = await (await fetch(fleet.api.replace(/\/api\/v1$/, "/metrics"))).text();
  t.regex(text, /deploykit_conductor_hosts\{alive="true"\} 1/);
  t.regex(text, /deploykit_conductor_deploys_total\{state="succeeded"\} \d/);
});
