// The conductor as `deploykit up` runs it, in this process: the embedded
// broker beside it (nothing outside the bench is needed), the seeded apps.d,
// tokens and ledger, and the web UI served from the built dist/ui.
import pino from "pino";
import { defaultLimits, startBroker } from "../../daemons/broker/start-broker.ts";
import type { ConductorConfig } from "../../daemons/conductor/config.ts";
import { conductor } from "../../daemons/conductor/index.ts";
import { createBus } from "../../shared/bus/create-bus.ts";
import type { FleetSeed } from "./seed-fleet.ts";

export interface BenchConductor {
  /** http://127.0.0.1:PORT/: the web UI. */
  ui: string;
  /** …/api/v1 */
  api: string;
  stop(): Promise<void>;
}

export async function startBenchConductor(seed: FleetSeed): Promise<BenchConductor> {
  const log = pino({ level: "warn" }, pino.destination(2));
  const broker = await startBroker({
    host: "127.0.0.1",
    port: 0,
    users: [],
    anonymous: "loopback",
    heartbeatMs: 10_000,
    connectTimeoutMs: 10_000,
    maxConnections: 100,
    server: "deploykit/bench-frontend",
    log,
    limits: defaultLimits,
  });
  const bus = createBus({
    url: broker.url,
    prefix: `bench-frontend-${process.pid}`,
    source: { component: "conductor", host: "bench" },
    log,
    publishTimeoutMs: 10_000,
    handlerTimeoutMs: 10_000,
    confirm: true,
    prefetch: 50,
    heartbeatMs: 10_000,
    connectTimeoutMs: 10_000,
    reconnect: { initialMs: 100, maxMs: 1_000 },
    groupMaxLength: 1_000,
    groupExpiryMs: 60_000,
    tls: { insecure: false },
  });
  const config: ConductorConfig = {
    host: "127.0.0.1",
    port: 0,
    appsDir: seed.appsDir,
    database: seed.database,
    tokensFile: seed.tokensFile,
    signingKey: seed.signingKey,
    mirrorDir: seed.mirrorDir,
    fetchInterval: 3_600_000,
    fetchTimeout: 30_000,
    requestTtl: 60_000,
    hostTimeout: 30_000,
    // No agent runs: the seeded hosts must stay alive (seen "just now") however long the runs take.
    hostExpiry: 7 * 86_400_000,
    logLinesPerHost: 20_000,
    // The web UI this checkout built, as an installed conductor serves it.
    uiDir: "",
  };
  const urls = new Map<string, string>();
  let stopConductor: () => Promise<void>;
  try {
    stopConductor = await conductor.start({
      config,
      bus,
      log,
      host: "bench",
      signal: new AbortController().signal,
      announce: (what, url) => urls.set(what, url),
    });
  } catch (err) {
    await bus.close({ graceMs: 0 });
    await broker.close();
    throw err;
  }
  const stop = async () => {
    await stopConductor();
    await bus.close({ graceMs: 0 });
    await broker.close();
  };
  const ui = urls.get("web ui");
  const api = urls.get("api");
  if (ui === undefined || api === undefined) {
    await stop();
    throw new Error(`the conductor announced ${[...urls.keys()].join(", ") || "nothing"}, not its web ui and api URLs`);
  }
  return { ui, api, stop };
}
