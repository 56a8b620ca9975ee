import type { Daemon } from "../../shared/daemon.ts";
import { type ConductorConfig, conductorConfig } from "./config.ts";

/**
 * The one stateful daemon: turns "deploy v2.3.1 of shop to production" into
 * signed requests for the right hosts in the right order, watches the
 * answers, stops when something fails, and keeps the ledger. Serves the REST
 * API the CLI and the web UI use.
 */
export const conductor: Daemon<ConductorConfig> = {
  name: "conductor",
  description: "orchestrates rollouts, keeps the ledger, serves the REST API",
  config: conductorConfig,
  async start(context) {
    const { startConductor } = await import("./start-conductor.ts");
    return startConductor(context);
  },
};
