import type { ExecutionContext } from "ava";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import { type TestBrokerOptions, startTestBroker } from "./embedded-broker.ts";
import { type RawClient, connectRaw, openRaw } from "./raw-stomp.ts";

// The conformance tests' fixtures: a broker and raw clients that end with the test.

export async function rawBroker(t: ExecutionContext, options: TestBrokerOptions = {}): Promise<RunningBroker> {
  const running = await startTestBroker(options);
  t.teardown(() => running.close());
  return running;
}

/** A raw client past CONNECTED. */
export async function rawClient(t: ExecutionContext, b: RunningBroker, headers: Record<string, string> = { "accept-version": "1.2" }): Promise<RawClient> {
  const { client } = await connectRaw(b.port, headers);
  t.teardown(() => client.destroy());
  return client;
}

/** A raw connection that has sent nothing. */
export async function rawSocket(t: ExecutionContext, b: RunningBroker): Promise<RawClient> {
  const client = await openRaw(b.port);
  t.teardown(() => client.destroy());
  return client;
}
