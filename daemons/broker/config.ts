import { defineConfig } from "../../shared/config/config-schema.ts";
import type { AnonymousPolicy } from "./authenticator.ts";

export const brokerConfig = defineConfig({
  host: { doc: "Address the broker listens on", format: "string", default: "127.0.0.1" },
  port: { doc: "STOMP port (0 picks a free one)", format: "port", default: 61613 },
  tlsCert: { doc: "PEM certificate file: when set with tlsKey, clients must connect with stomp+ssl://", format: "string", default: "" },
  tlsKey: { doc: "PEM private key file for tlsCert", format: "string", default: "", sensitive: true },
  users: {
    doc: "Accounts as LOGIN:HASH, the hash from `deploykit broker hash-password`; when empty, logins are not checked",
    format: "string-list",
    default: [] as string[],
    sensitive: true,
  },
  anonymous: {
    doc: "Who may connect without a known login: loopback (clients on this host), any, or none",
    format: ["loopback", "any", "none"],
    default: "loopback" as "loopback" | "any" | "none",
  },
  heartbeat: { doc: "Heart-beat period the broker offers and asks for (0 switches heart-beats off)", format: "duration", default: 10_000 },
  connectTimeout: { doc: "A connection that has not sent CONNECT within this long is closed", format: "duration", default: 10_000 },
  maxConnections: { doc: "Connections at once; the next one gets an ERROR frame", format: "nat", default: 1000 },
  maxFrameSize: { doc: "Largest frame, headers and body, in bytes", format: "nat", default: 4 * 1024 * 1024 },
  maxHeaders: { doc: "Most headers in one frame", format: "nat", default: 64 },
  maxHeaderLength: { doc: "Longest header line, in bytes", format: "nat", default: 8192 },
  maxSubscriptions: { doc: "Subscriptions per connection", format: "nat", default: 1000 },
  slowConsumerMessages: {
    doc: "Messages waiting for one subscriber that does not keep up; beyond it the subscriber is disconnected",
    format: "nat",
    default: 10_000,
  },
  maxQueueLength: {
    doc: "Most messages any queue or group keeps (the oldest are dropped beyond it); caps x-max-length",
    format: "nat",
    default: 100_000,
  },
  maxQueues: {
    doc: "Most named queues (groups and /queue/ destinations) at once; a SEND or SUBSCRIBE that would create one more gets an ERROR",
    format: "nat",
    default: 1000,
  },
  maxTransactionFrames: { doc: "Frames one transaction may hold before COMMIT", format: "nat", default: 10_000 },
  metricsHost: { doc: "Address of the Prometheus /metrics endpoint", format: "string", default: "127.0.0.1" },
  metricsPort: { doc: "Port of the Prometheus /metrics endpoint (0 picks a free one)", format: "port", default: 9613 },
});

export type BrokerConfig = {
  host: string;
  port: number;
  tlsCert: string;
  tlsKey: string;
  users: string[];
  anonymous: AnonymousPolicy;
  heartbeat: number;
  connectTimeout: number;
  maxConnections: number;
  maxFrameSize: number;
  maxHeaders: number;
  maxHeaderLength: number;
  maxSubscriptions: number;
  slowConsumerMessages: number;
  maxQueueLength: number;
  maxQueues: number;
  maxTransactionFrames: number;
  metricsHost: string;
  metricsPort: number;
};
