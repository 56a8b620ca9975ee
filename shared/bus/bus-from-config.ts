import { hostname } from "node:os";
import type { Logger } from "pino";
import type { busConfig } from "../config/common-config.ts";
import type { ConfigOf } from "../config/read-config.ts";
import type { Bus } from "./bus.ts";
import { createBus } from "./create-bus.ts";

export type BusConfig = ConfigOf<{ bus: typeof busConfig }>["bus"];

export function hostName(config: BusConfig): string {
  return config.host || hostname();
}

/** The one translation from the `bus` config section to a connected-on-demand Bus. */
export function busFromConfig(config: BusConfig, component: string, log: Logger): Bus {
  return createBus({
    url: config.url,
    prefix: config.prefix,
    login: config.login || undefined,
    passcode: config.passcode || undefined,
    source: { component, host: hostName(config) },
    log: log.child({ bus: true }),
    publishTimeoutMs: config.publishTimeout,
    handlerTimeoutMs: config.handlerTimeout,
    confirm: config.confirm,
    prefetch: Math.max(1, config.prefetch),
    heartbeatMs: config.heartbeat,
    connectTimeoutMs: config.connectTimeout,
    reconnect: { initialMs: config.reconnectMin, maxMs: config.reconnectMax },
    groupMaxLength: config.groupMaxLength,
    groupExpiryMs: config.groupExpiry,
    tls: { caFile: config.tlsCa || undefined, insecure: config.tlsInsecure },
  });
}
