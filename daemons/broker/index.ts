import type { Daemon } from "../../shared/daemon.ts";
import { version } from "../../shared/version.ts";
import { type BrokerConfig, brokerConfig } from "./config.ts";

/**
 * The embedded STOMP broker: the bus for single-host installations, trials and
 * tests. State lives in memory (docs/broker.md says what a restart loses).
 * Larger installations point bus.url at RabbitMQ or ActiveMQ instead.
 */
export const broker: Daemon<BrokerConfig> = {
  name: "broker",
  description: "the embedded STOMP 1.0-1.2 broker (state in memory)",
  config: brokerConfig,
  usesBus: false,
  async start({ config, log, announce }) {
    if (Boolean(config.tlsCert) !== Boolean(config.tlsKey)) {
      throw new Error("broker.tlsCert and broker.tlsKey go together: set both for TLS, or neither");
    }
    // The listener, the router and the sessions load only when the broker runs: other CLI commands are spared them.
    const { startBroker } = await import("./start-broker.ts");
    const running = await startBroker({
      host: config.host,
      port: config.port,
      tls: config.tlsCert ? { cert: config.tlsCert, key: config.tlsKey } : undefined,
      users: config.users,
      anonymous: config.anonymous,
      heartbeatMs: config.heartbeat,
      connectTimeoutMs: config.connectTimeout,
      maxConnections: config.maxConnections,
      limits: {
        maxFrameBytes: config.maxFrameSize,
        maxHeaders: config.maxHeaders,
        maxHeaderBytes: config.maxHeaderLength,
        maxSubscriptions: config.maxSubscriptions,
        slowConsumerMessages: config.slowConsumerMessages,
        maxQueueLength: config.maxQueueLength,
        maxQueues: config.maxQueues,
        maxTransactionFrames: config.maxTransactionFrames,
      },
      metrics: { host: config.metricsHost, port: config.metricsPort },
      server: `deploykit/${version}`,
      log,
    });
    announce("stomp", running.url);
    if (running.metricsUrl) announce("metrics", running.metricsUrl);
    return () => running.close();
  },
};
