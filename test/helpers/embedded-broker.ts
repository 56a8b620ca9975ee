import type { Logger } from "pino";
import { type BrokerOptions, type RunningBroker, defaultLimits, startBroker } from "../../daemons/broker/start-broker.ts";
import type { SessionLimits } from "../../daemons/broker/session.ts";
import { silent } from "./test-bus.ts";

export interface TestBrokerOptions extends Partial<Omit<BrokerOptions, "limits">> {
  limits?: Partial<SessionLimits>;
  log?: Logger;
}

/** An embedded broker on a free loopback port, with short timers so broken cases fail fast. */
export function startTestBroker(options: TestBrokerOptions = {}): Promise<RunningBroker> {
  const { limits, ...rest } = options;
  return startBroker({
    host: "127.0.0.1",
    port: 0,
    users: [],
    anonymous: "loopback",
    heartbeatMs: 1_000,
    connectTimeoutMs: 2_000,
    maxConnections: 200,
    server: "deploykit/test",
    log: silent,
    metrics: { host: "127.0.0.1", port: 0 },
    ...rest,
    limits: { ...defaultLimits, ...limits },
  });
}
