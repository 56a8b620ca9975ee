// bench/rollout: a rollout of a small app to 200 hosts in batches of 50,
// through deploykit (the conductor's REST API → signed requests → 200 deploy
// agents in a few processes, each agent with its own root) beside Debian's
// Ansible doing the same export, scripts and atomic switch of `current` on
// 200 local inventory hosts with forks 50, in the same run. Also measured,
// as references: the agents driven by the bench itself without the conductor
// ("direct"), and the same steps as a bare /bin/sh script per host, 50 at a
// time ("shell"). After every rollout every host is checked. It prints the
// wall times, the Ansible/deploykit ratio, and the rollout's overhead over
// the sum of per-host step times divided by the batch size.
// docs/benchmarks.md explains the method and holds measured figures.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import pino from "pino";
import { defaultLimits, startBroker } from "../daemons/broker/start-broker.ts";
import { writeKeyPair } from "../shared/write-key-pair.ts";
import { machineCpuSeconds, processCpuSeconds } from "./process-stats.ts";
import { AnsibleRollout } from "./rollout/ansible-rollout.ts";
import { type BenchTag, createBenchRepo } from "./rollout/bench-repo.ts";
import { checkHosts } from "./rollout/check-hosts.ts";
import { ConductorRollout } from "./rollout/conductor-rollout.ts";
import { DirectRollout } from "./rollout/direct-rollout.ts";
import { hostIdentityOf } from "./rollout/host-dirs.ts";
import { printReport, type RunRecord, type SideName } from "./rollout/print-report.ts";
import { rolloutFigures } from "./rollout/rollout-figures.ts";
import { shellRollout } from "./rollout/shell-rollout.ts";
import { type AgentSwarm, spawnAgentSwarm } from "./rollout/spawn-agent-swarm.ts";
import { spawnEmbeddedBroker } from "./spawn-embedded-broker.ts";

const allSides: readonly SideName[] = ["deploykit", "ansible", "direct", "shell"];
const usage =
  "usage: node dist/bench/rollout.js [--hosts 200] [--processes 4] [--batch 50] [--runs 3] [--bus shared|each] [--sides deploykit,ansible,direct,shell] [--forks 50] [--serial 0] [--broker process|in-process] [--ledger sqlite:/path|postgres://...|mysql://...] [--keep]";

const { values: args } = parseArgs({
  options: {
    hosts: { type: "string", default: "200" },
    processes: { type: "string", default: "4" },
    batch: { type: "string", default: "50" },
    runs: { type: "string", default: "3" },
    bus: { type: "string", default: "each" },
    sides: { type: "string", default: allSides.join(",") },
    forks: { type: "string", default: "50" },
    serial: { type: "string", default: "0" },
    broker: { type: "string", default: "process" },
    ledger: { type: "string", default: "" },
    keep: { type: "boolean", default: false },
  },
});
const hosts = Number(args.hosts);
const processes = Number(args.processes);
const batch = Number(args.batch);
const runs = Number(args.runs);
const forks = Number(args.forks);
const serial = Number(args.serial);
const sides = (args.sides as string).split(",").filter(Boolean) as SideName[];
const busMode = args.bus as "shared" | "each";
if (
  ![hosts, processes, batch, runs, forks].every((n) => Number.isInteger(n) && n >= 1) ||
  !Number.isInteger(serial) ||
  serial < 0 ||
  processes > hosts ||
  !["shared", "each"].includes(busMode) ||
  !["process", "in-process"].includes(args.broker as string) ||
  sides.length === 0 ||
  sides.some((side) => !allSides.includes(side))
) {
  throw new Error(usage);
}
const identities = Array.from({ length: hosts }, (_, i) => hostIdentityOf(i));

/** CPU seconds of a process's children that it has waited for (cutime + cstime): an agent's git and scripts. */
function childrenCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

/** VmRSS of a process in MB, from /proc. */
function rssMb(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? Number.NaN) / 1024;
}

/** The embedded broker in this process, as `deploykit up` runs it, beside the conductor. */
async function inProcessBroker(): Promise<{ url: URL; pid: number; stop(): Promise<void> }> {
  const broker = await startBroker({
    host: "127.0.0.1",
    port: 0,
    users: [],
    anonymous: "loopback",
    heartbeatMs: 10_000,
    connectTimeoutMs: 10_000,
    maxConnections: 1_000,
    server: "deploykit/bench-rollout",
    log: pino({ level: "warn" }, pino.destination(2)),
    limits: defaultLimits,
  });
  return { url: new URL(broker.url), pid: process.pid, stop: () => broker.close() };
}

async function main(): Promise<void> {
  const base = mkdtempSync(join(tmpdir(), "dk-bench-rollout-"));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const ansibleVersion = sides.includes("ansible") ? await AnsibleRollout.version() : undefined;
    const load = loadavg()[0]?.toFixed(2);
    // Two tags per run (warm-up included): the conductor's and the direct rollout's, both on the same agents.
    const repo = await createBenchRepo(join(base, "repo"), 2 * (runs + 1));
    const keys = writeKeyPair(join(base, "keys"), "conductor");
    const broker = args.broker === "in-process" ? await inProcessBroker() : await spawnEmbeddedBroker();
    cleanups.push(() => broker.stop());
    const prefix = `bench-rollout-${process.pid}`;
    const agentSides = sides.includes("deploykit") || sides.includes("direct");

    let swarm: AgentSwarm | undefined;
    let direct: DirectRollout | undefined;
    let conductor: ConductorRollout | undefined;
    let swarmStartMs = 0;
    if (agentSides) {
      direct = await DirectRollout.start(broker.url.href, prefix, keys.privateKey);
      cleanups.push(() => (direct as DirectRollout).close());
      const started = performance.now();
      swarm = await spawnAgentSwarm({
        url: broker.url.href,
        prefix,
        base,
        hosts,
        processes,
        trusted: keys.publicKey,
        mirror: repo.bare,
        bus: busMode,
        aliveIntervalMs: 60_000,
      });
      cleanups.push(() => (swarm as AgentSwarm).stop());
      await direct.waitForHosts(identities, 60_000);
      swarmStartMs = performance.now() - started;
    }
    if (sides.includes("deploykit")) {
      conductor = await ConductorRollout.start({ base, busUrl: broker.url.href, prefix, signingKey: keys.privateKey, repoUrl: pathToFileURL(repo.bare).href, batch, database: args.ledger as string });
      cleanups.push(() => (conductor as ConductorRollout).stop());
      await conductor.waitForHosts(identities, 60_000);
    }
    const ansible = sides.includes("ansible") ? new AnsibleRollout(base, hosts, repo.bare, { forks, serial }) : undefined;

    const nodePids = [...new Set([...(swarm?.pids ?? []), broker.pid, process.pid])];
    const cpuOf = (pids: number[]) => pids.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
    const records: RunRecord[] = [];
    for (let run = 0; run <= runs; run++) {
      const conductorTag = repo.tags[2 * run] as BenchTag;
      const directTag = repo.tags[2 * run + 1] as BenchTag;
      const label = run === 0 ? "warm-up" : `run ${run}`;
      // Each side goes first in turn, so none always follows another's leftovers (page cache, dirty pages).
      const order = sides.map((_, i) => sides[(i + run) % sides.length] as SideName);
      for (const side of order) {
        const machineBefore = machineCpuSeconds();
        const swarmBefore = cpuOf(swarm?.pids ?? []);
        const childrenBefore = (swarm?.pids ?? []).reduce((sum, pid) => sum + childrenCpuSeconds(pid), 0);
        const nodeBefore = cpuOf(nodePids);
        const record: RunRecord = { run, label, side, wallMs: 0, load: loadavg()[0] ?? 0, cpuSeconds: 0, agentNodeCpuSeconds: 0, agentChildCpuSeconds: 0, nodeCpuSeconds: 0 };
        switch (side) {
          case "deploykit": {
            const result = await (conductor as ConductorRollout).run(conductorTag);
            record.wallMs = result.wallMs;
            record.ledgerMs = result.ledgerMs;
            record.edgesMs = { start: result.startMs, end: result.endMs };
            record.figures = rolloutFigures(result.wallMs, result.timings, batch);
            checkHosts(base, "agents", hosts, conductorTag.tag);
            break;
          }
          case "direct": {
            const result = await (direct as DirectRollout).run(directTag, identities, batch);
            record.wallMs = result.wallMs;
            record.figures = rolloutFigures(result.wallMs, result.timings, batch);
            checkHosts(base, "agents", hosts, directTag.tag);
            break;
          }
          case "ansible": {
            const result = await (ansible as AnsibleRollout).run(conductorTag, `r${run}`);
            record.wallMs = result.wallMs;
            checkHosts(base, "ansible", hosts, conductorTag.tag);
            break;
          }
          case "shell": {
            const result = await shellRollout(base, hosts, repo.bare, conductorTag, `r${run}`, batch);
            record.wallMs = result.wallMs;
            record.shellHostSumMs = result.hostSumMs;
            checkHosts(base, "shell", hosts, conductorTag.tag);
            break;
          }
          default: {
            const unreachable: never = side;
            throw new Error(`unknown side ${String(unreachable)}`);
          }
        }
        const machineAfter = machineCpuSeconds();
        record.cpuSeconds = machineAfter.busy - machineBefore.busy;
        record.agentNodeCpuSeconds = cpuOf(swarm?.pids ?? []) - swarmBefore;
        record.agentChildCpuSeconds = (swarm?.pids ?? []).reduce((sum, pid) => sum + childrenCpuSeconds(pid), 0) - childrenBefore;
        record.nodeCpuSeconds = cpuOf(nodePids) - nodeBefore;
        records.push(record);
        console.log(`${label.padEnd(8)} ${side.padEnd(10)} ${(record.wallMs / 1000).toFixed(2).padStart(7)} s  (every host checked; load average ${record.load.toFixed(1)} before)`);
        // A moment for stragglers (the agents' last reports, Ansible's exit) before the next side's clock starts.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }

    const cpu = cpus();
    printReport({
      records,
      hosts,
      batch,
      processes,
      busMode,
      broker: args.broker as "process" | "in-process",
      ledger: (args.ledger as string).replace(/\/\/[^@/]*@/, "//***@") || "SQLite in the temp directory",
      forks,
      serial,
      repoFiles: repo.fileCount,
      machine: `${cpu.length} × ${cpu[0]?.model ?? "CPU"}, Node ${process.version}; load average ${load} at start`,
      ansibleVersion,
      swarmStartMs,
      swarmRssMb: swarm?.pids.map(rssMb) ?? [],
    });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: Error) => console.log(`cleanup: ${err.message}`));
    if (args.keep) console.log(`kept ${base}`);
    else rmSync(base, { recursive: true, force: true });
  }
}

await main().catch((err: Error) => {
  console.log(`ABORTED: ${err.message}`);
  process.exitCode = 1;
});
