import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { uniquePrefix } from "../../helpers/test-bus.ts";
import { currentOf, startFleet, waitFor } from "./fleet-fixture.ts";

// The conductor dies in the middle of a rollout. Whatever it was running must
// end (resumed, or marked interrupted), never stay "running" forever.

const slowStep = `#!/bin/sh
echo "$DEPLOYKIT_STEP on $DEPLOYKIT_HOST"
touch "$TEST_OUT/started-$DEPLOYKIT_STEP"
sleep 2
`;

test("SIGKILLed mid-rollout, the restarted conductor resumes: a result it missed is learned from hosts.alive, the rest of the batches go out", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const hosts = ["web-1", "web-2", "web-3"];
  const fleet = await startFleet(t, {
    url: broker.url,
    prefix: uniquePrefix(),
    hosts,
    conductorProcess: true,
    environments: [{ name: "production", rollout: { canary: 0, batch: 1 } }],
    agentApp: { scripts: { "pre-link": "bin/slow" } },
    agent: { aliveInterval: 1_000 },
    conductor: { requestTtl: 2_000 },
  });
  await fleet.repo.commit({ "bin/slow": { content: slowStep, mode: 0o755 }, "index.html": "v3\n" }, "v3");
  const id = await fleet.deploy(t, { ref: "v3" });
  const web2 = fleet.agentOut.get("web-2") as string;
  await waitFor(() => existsSync(join(web2, "started-pre-link")), 30_000, "web-2 to be in its pre-link step");
  fleet.conductorChild?.kill("SIGKILL");
  // web-2 finishes while nobody listens: its deploy.results is lost.
  await waitFor(() => currentOf(fleet, "web-2")?.content === "v3", 20_000, "web-2 to finish without the conductor");
  fleet.conductorChild = await fleet.spawnConductor(t);
  const detail = await fleet.finished(id, 60_000);
  t.is(detail.deploy.state, "succeeded", detail.deploy.message ?? "");
  const web2Host = detail.hosts.find((h) => h.host === "web-2");
  t.is(web2Host?.outcome, "succeeded");
  t.regex(web2Host?.reason ?? "", /learned from hosts\.alive/);
  for (const host of hosts) t.is(currentOf(fleet, host)?.content, "v3", host);
});

test("a rollout whose environment is gone after the restart is marked interrupted, with the reason", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const fleet = await startFleet(t, {
    url: broker.url,
    prefix: uniquePrefix(),
    hosts: ["web-1", "web-2"],
    environments: [{ name: "production", rollout: { canary: 0, batch: 1 } }],
    agentApp: { scripts: { "pre-link": "bin/slow" } },
  });
  await fleet.repo.commit({ "bin/slow": { content: slowStep, mode: 0o755 } }, "v3");
  const id = await fleet.deploy(t, { ref: "v3" });
  await waitFor(() => existsSync(join(fleet.agentOut.get("web-1") as string, "started-pre-link")), 30_000, "web-1 to be deploying");
  await fleet.stopConductor();
  rmSync(join(fleet.config.appsDir, "shop.yaml"));
  await fleet.startConductor(t);
  const detail = (await fleet.call("GET", `/deploys/${id}`)).body as { deploy: { state: string; message: string }; hosts: { host: string; outcome: string }[] };
  t.is(detail.deploy.state, "interrupted");
  t.regex(detail.deploy.message, /no longer configured/);
  t.false(detail.hosts.some((h) => h.outcome === "pending"), "no host is left pending");
});
