import type { Daemon } from "../../shared/daemon.ts";
import { type KeepaliveConfig, keepaliveConfig } from "./config.ts";

/**
 * Publishes keepalive.v1 so idle paths through firewalls carry traffic, and
 * times each message's trip back from the broker: a slow or missing round trip
 * is how an operator learns the path to the broker is sick. The connection
 * itself is kept alive by STOMP heart-beats.
 */
export const keepalive: Daemon<KeepaliveConfig> = {
  name: "keepalive",
  description: "publishes keepalives and reports slow or lost round trips to the broker",
  config: keepaliveConfig,
  async start(context) {
    const { startKeepalive } = await import("./start-keepalive.ts");
    return startKeepalive(context);
  },
};
