// A child process of bench/rollout holding many deploy agents: --count
// agents `bench-<from>`, `bench-<from+step>`, ..., each started exactly as
// the daemon starts one (deployAgent.start) with its own apps.d, state
// directory and root, all trusting the same public key. With --bus shared
// they share one bus connection (one STOMP subscription each on it); with
// --bus each, every agent has its own connection, as on a real fleet.
// It says "ready" over the IPC channel once every agent has started (its
// hosts.alive startup is published), and stops every agent on SIGTERM.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pino from "pino";
import YAML from "yaml";
import type { DeployAgentConfig } from "../../daemons/deploy-agent/config.ts";
import { deployAgent } from "../../daemons/deploy-agent/index.ts";
import type { Bus } from "../../shared/bus/bus.ts";
import { createBus } from "../../shared/bus/create-bus.ts";
import { benchApp, hostDirs } from "./host-dirs.ts";

/** What the parent hears over IPC. */
export type SwarmMessage = { type: "ready"; hosts: number; startMs: number } | { type: "error"; message: string };

const { values: args } = parseArgs({
  options: {
    url: { type: "string" },
    prefix: { type: "string" },
    base: { type: "string" },
    from: { type: "string" },
    step: { type: "string", default: "1" },
    count: { type: "string" },
    trusted: { type: "string" },
    mirror: { type: "string" },
    bus: { type: "string", default: "shared" },
    "alive-interval": { type: "string", default: "60000" },
    "log-level": { type: "string", default: "warn" },
  },
});

function required(name: keyof typeof args): string {
  const value = args[name];
  if (typeof value !== "string" || value === "") throw new Error(`agent-swarm: --${name} is required (bench/rollout.ts passes it)`);
  return value;
}

function tell(message: SwarmMessage): void {
  process.send?.(message);
}

const url = required("url");
const prefix = required("prefix");
const base = required("base");
const from = Number(required("from"));
const step = Number(args.step);
const count = Number(required("count"));
const trusted = required("trusted");
const mirror = required("mirror");
const busMode = args.bus;
const aliveInterval = Number(args["alive-interval"]);
if (busMode !== "shared" && busMode !== "each") throw new Error(`agent-swarm: --bus is shared or each, not ${busMode}`);

const log = pino({ level: args["log-level"] as string, base: { swarm: from } }, pino.destination(2));

function busFor(host: string): Bus {
  // The daemon's defaults (shared/config/common-config.ts), as busFromConfig would build them.
  return createBus({
    url,
    prefix,
    source: { component: "deploy-agent", host },
    log: log.child({ bus: true }),
    publishTimeoutMs: 30_000,
    handlerTimeoutMs: 60_000,
    confirm: true,
    prefetch: 100,
    heartbeatMs: 10_000,
    connectTimeoutMs: 10_000,
    reconnect: { initialMs: 500, maxMs: 30_000 },
    groupMaxLength: 10_000,
    groupExpiryMs: 7 * 86_400_000,
    tls: { insecure: false },
  });
}

/** The host's apps.d/bench.yaml: the release strategy from the shared bare repository, both hooks from the release. */
function writeHost(index: number): DeployAgentConfig {
  const dirs = hostDirs(base, "agents", index);
  for (const dir of [dirs.appsDir, dirs.root, dirs.stateDir, dirs.mirrorDir]) mkdirSync(dir, { recursive: true });
  const app = {
    strategy: "release",
    root: dirs.root,
    mirror,
    // Scripts run as the bench's own user, as Ansible's do: neither side pays for a user switch.
    // (An agent running as root must be told so; one that is not root runs them as itself.)
    ...(process.getuid?.() === 0 ? { user: "root" } : {}),
    keep: 5,
    scripts: { "pre-link": "bin/pre-link", "post-deploy": "bin/post-deploy" },
  };
  writeFileSync(join(dirs.appsDir, `${benchApp}.yaml`), YAML.stringify(app));
  return {
    identity: dirs.identity,
    appsDir: dirs.appsDir,
    trustedKeys: [trusted],
    stateDir: dirs.stateDir,
    mirrorDir: dirs.mirrorDir,
    factsFile: "",
    facter: false,
    classesFile: "",
    classes: [],
    aliveInterval,
    maxTtl: 300_000,
    clockSkew: 30_000,
    stepTimeout: 120_000,
    inactivityTimeout: 120_000,
    minFreeMegabytes: 1,
    maxArtifactMegabytes: 64,
  };
}

const buses: Bus[] = [];
const controller = new AbortController();
const stops: (() => Promise<void>)[] = [];
let stopped = false;

async function stopAll(): Promise<void> {
  controller.abort();
  await Promise.allSettled(stops.map((stop) => stop()));
  await Promise.allSettled(buses.map((bus) => bus.close({ graceMs: 2_000 })));
}

process.on("SIGTERM", () => {
  if (stopped) return;
  stopped = true;
  void stopAll().finally(() => process.disconnect?.());
});

async function main(): Promise<void> {
  const started = performance.now();
  const shared = busMode === "shared" ? busFor(`bench-swarm-${from}`) : undefined;
  if (shared) buses.push(shared);
  await Promise.all(
    Array.from({ length: count }, async (_, offset) => {
      const config = writeHost(from + offset * step);
      const bus = shared ?? busFor(config.identity);
      if (!shared) buses.push(bus);
      const stop = await deployAgent.start({
        config,
        bus,
        log: log.child({ host: config.identity }),
        host: config.identity,
        signal: controller.signal,
        announce: () => {},
      });
      stops.push(stop);
    }),
  );
  tell({ type: "ready", hosts: count, startMs: performance.now() - started });
}

await main().catch(async (err: Error) => {
  tell({ type: "error", message: `agents ${from}, ${from + step}, ...: ${err.message}` });
  process.exitCode = 1;
  await stopAll();
  process.disconnect?.();
});
