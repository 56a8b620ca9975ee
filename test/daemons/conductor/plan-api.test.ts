import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { uniquePrefix } from "../../helpers/test-bus.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { startFleet } from "./fleet-fixture.ts";

// What the web UI asks before it offers anything: who the token is, and what
// a deploy would do (POST /plans) with the same refusals POST /deploys gives;
// and the UI's own files at /, with headers that keep them to this origin.

const plan = (fields: Record<string, unknown> = {}) => ({ app: "shop", environment: "production", ref: "v2", ...fields });

test("whoami names the token and its role; POST /plans shows batches and releases, and records nothing", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const fleet = await startFleet(t, {
    url: broker.url,
    prefix: uniquePrefix(),
    hosts: ["web-1", "web-2", "web-3"],
    environments: [{ name: "production", rollout: { canary: 1, batch: 1 } }],
  });
  t.deepEqual((await fleet.call("GET", "/whoami", undefined, "viewer")).body, { name: "vera", role: "viewer" });
  t.deepEqual((await fleet.call("GET", "/whoami", undefined, "admin")).body, { name: "ada", role: "admin" });
  t.is((await fleet.call("GET", "/whoami", undefined, null)).status, 401);

  // web-1 runs v1: the plan says each host goes from what it runs to v2.
  const first = await fleet.deploy(t, { ref: "v1", hosts: ["web-1"] });
  t.is((await fleet.finished(first)).deploy.state, "succeeded");
  const answer = await fleet.call("POST", "/plans", plan(), "deployer");
  t.is(answer.status, 200, JSON.stringify(answer.body));
  const shown = answer.body.plan as {
    ref: string;
    sha: string;
    previousRef: string | null;
    gate: unknown;
    running: unknown;
    queued: number;
    batches: { batch: number; canary: boolean; hosts: { host: string; from: { ref: string | null } | null; unchanged: boolean }[] }[];
  };
  t.is(shown.ref, "v2");
  t.is(shown.sha, await fleet.repo.git(["rev-parse", "v2^{commit}"]));
  t.is(shown.previousRef, "v1");
  t.is(shown.gate, null);
  t.is(shown.running, null);
  t.is(shown.queued, 0);
  t.deepEqual(
    shown.batches.map((batch) => [batch.batch, batch.canary, batch.hosts.map((host) => `${host.host}:${host.from?.ref ?? "none"}:${host.unchanged}`)]),
    [
      [0, true, ["web-1:v1:false"]],
      [1, false, ["web-2:none:false"]],
      [2, false, ["web-3:none:false"]],
    ],
  );
  const same = (await fleet.call("POST", "/plans", plan({ ref: "v1", hosts: ["web-1"] }), "deployer")).body.plan as typeof shown;
  t.true(same.batches[0]?.hosts[0]?.unchanged, "web-1 already runs v1");

  // The same refusals as POST /deploys, before anything is recorded.
  t.is((await fleet.call("POST", "/plans", plan({ ref: "--upload-pack=x" }), "deployer")).body.error?.code, "invalid-ref");
  t.is((await fleet.call("POST", "/plans", plan({ ref: "v9" }), "deployer")).body.error?.code, "unknown-ref");
  t.is((await fleet.call("POST", "/plans", plan({ hosts: ["db-9"] }), "deployer")).body.error?.code, "no-hosts");
  t.is((await fleet.call("POST", "/plans", plan(), "viewer")).status, 403);
  await fleet.call("PUT", "/apps/shop/environments/production/lock", { reason: "release freeze" }, "admin");
  const locked = await fleet.call("POST", "/plans", plan(), "deployer");
  t.is(locked.status, 409);
  t.is(locked.body.error?.code, "locked");
  t.regex(locked.body.error?.message ?? "", /release freeze/);
  const deploys = (await fleet.call("GET", "/deploys")).body.deploys as unknown[];
  t.is(deploys.length, 1, "planning recorded no deploy");
});

test("the web UI is served at / from uiDir: index.html revalidated, hashed assets cached for good, a CSP on everything", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const ui = tempDir(t, "dk-ui-");
  mkdirSync(join(ui, "assets"));
  writeFileSync(join(ui, "index.html"), '<!doctype html><div id="app"></div><script type="module" src="./assets/index-abc.js"></script>');
  writeFileSync(join(ui, "assets", "index-abc.js"), "console.log(1)");
  const fleet = await startFleet(t, { url: broker.url, prefix: uniquePrefix(), hosts: ["web-1"], conductor: { uiDir: ui } });
  const root = fleet.api.replace(/\/api\/v1$/, "");
  const index = await fetch(`${root}/`);
  t.is(index.status, 200);
  t.regex(await index.text(), /<div id="app">/);
  t.is(index.headers.get("cache-control"), "no-cache");
  t.regex(index.headers.get("content-security-policy") ?? "", /default-src 'self'.*frame-ancestors 'none'/);
  t.is(index.headers.get("x-content-type-options"), "nosniff");
  const asset = await fetch(`${root}/assets/index-abc.js`);
  t.is(asset.status, 200);
  t.regex(asset.headers.get("cache-control") ?? "", /immutable/);
  t.is((await fetch(`${root}/assets/missing.js`)).status, 404);
  t.is((await fetch(`${root}/../../etc/passwd`)).status, 404);
  // The API is not shadowed by the UI.
  t.is((await fetch(`${fleet.api}/health`)).status, 200);
  t.is((await fetch(`${fleet.api}/apps`)).status, 401);
});

test("without a built UI, / says how to build it instead of failing silently", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const fleet = await startFleet(t, { url: broker.url, prefix: uniquePrefix(), hosts: ["web-1"], conductor: { uiDir: tempDir(t, "dk-no-ui-") } });
  const answer = await fetch(`${fleet.api.replace(/\/api\/v1$/, "")}/`);
  t.is(answer.status, 503);
  t.regex(await answer.text(), /npm run build/);
});
