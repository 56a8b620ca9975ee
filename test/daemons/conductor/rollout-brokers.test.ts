import test from "ava";
import { brokers } from "../../helpers/brokers.ts";
import { uniquePrefix } from "../../helpers/test-bus.ts";
import { currentOf, startFleet } from "./fleet-fixture.ts";

// The same rollout on RabbitMQ (STOMP, and AMQP for the agents): the conductor
// depends on nothing the embedded broker does that a real broker does not.

const rabbitStomp = brokers.find((b) => b.name === "rabbitmq-stomp")?.url as string;

test("on RabbitMQ: a canary and a batch of agents in this process and as child processes, then a rollback", async (t) => {
  const fleet = await startFleet(t, {
    url: rabbitStomp,
    prefix: uniquePrefix(),
    hosts: ["rmq-1", "rmq-2"],
    spawned: ["rmq-3"],
    environments: [{ name: "production", rollout: { canary: 1, batch: "50%" } }],
  });
  const first = await fleet.deploy(t, { ref: "v1" });
  const one = await fleet.finished(first);
  t.is(one.deploy.state, "succeeded", one.deploy.message ?? "");
  t.deepEqual(
    one.batches.map((b) => b.hosts),
    [["rmq-1"], ["rmq-2", "rmq-3"]],
  );
  const second = await fleet.deploy(t, { ref: "v2" });
  t.is((await fleet.finished(second)).deploy.state, "succeeded");
  for (const host of ["rmq-1", "rmq-2", "rmq-3"]) t.is(currentOf(fleet, host)?.content, "v2");
  const rollback = await fleet.call("POST", `/deploys/${second}/rollback`, undefined, "deployer");
  const back = await fleet.finished((rollback.body.deploy as { id: number }).id);
  t.is(back.deploy.state, "succeeded");
  for (const host of ["rmq-1", "rmq-2", "rmq-3"]) t.is(currentOf(fleet, host)?.content, "v1", host);
});
