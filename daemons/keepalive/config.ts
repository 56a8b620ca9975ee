import { defineConfig } from "../../shared/config/config-schema.ts";

export const keepaliveConfig = defineConfig({
  interval: { doc: "How often a keepalive is published to each topic", format: "duration", default: 30_000 },
  topics: {
    doc: "Topics to publish keepalives to: keepalive, or keepalive.NAME to probe one path on its own",
    format: "string-list",
    default: ["keepalive"],
  },
  slowRoundTrip: {
    doc: "Warn when our own keepalive takes longer than this to come back from the broker",
    format: "duration",
    default: 5_000,
  },
});

export type KeepaliveConfig = { interval: number; topics: string[]; slowRoundTrip: number };
