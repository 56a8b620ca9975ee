// What bench/rollout prints once every run is done: how it ran, one line per
// run, the medians, the ratio against Ansible, the rollout's overhead and
// where deploykit's time went.
import type { RolloutFigures } from "./rollout-figures.ts";

export type SideName = "deploykit" | "ansible" | "direct" | "shell";

export interface RunRecord {
  /** 0 is the warm-up. */
  run: number;
  label: string;
  side: SideName;
  wallMs: number;
  /** The 1-minute load average just before the side started: other work on the machine shows here. */
  load: number;
  /** The conductor's own createdAt → finishedAt. */
  ledgerMs?: number;
  /** deploykit: POST sent → first request out, and last answer in → the deploy seen finished. */
  edgesMs?: { start: number; end: number };
  figures?: RolloutFigures;
  shellHostSumMs?: number;
  /** The whole machine's busy CPU while the side ran: every process, kernel included. */
  cpuSeconds: number;
  /** The agent processes' own CPU (their Node threads, not git or the scripts). */
  agentNodeCpuSeconds: number;
  /** What the agents' children used: git, the scripts, sync. */
  agentChildCpuSeconds: number;
  /** Agents + broker + this process (conductor). */
  nodeCpuSeconds: number;
}

export interface ReportInput {
  records: RunRecord[];
  hosts: number;
  batch: number;
  processes: number;
  busMode: "shared" | "each";
  broker: "process" | "in-process";
  /** Where the conductor's ledger is, for the header. */
  ledger: string;
  forks: number;
  serial: number;
  repoFiles: number;
  machine: string;
  ansibleVersion: string | undefined;
  swarmStartMs: number;
  swarmRssMb: number[];
}

const GOAL_RATIO = 10;
const sideLabels: Record<SideName, string> = {
  deploykit: "deploykit: POST /deploys → finished",
  direct: "agents alone (bench signs each batch)",
  ansible: "Ansible (ansible-playbook)",
  shell: "bare /bin/sh per host, 50 at a time",
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const s = (ms: number, width = 8) => (Number.isNaN(ms) ? "n/a" : (ms / 1000).toFixed(2)).padStart(width);
const n = (value: number, digits = 1, width = 8) => (Number.isNaN(value) ? "n/a" : value.toFixed(digits)).padStart(width);

export function printReport(input: ReportInput): void {
  const { records, hosts, batch } = input;
  const sides = [...new Set(records.map((record) => record.side))];
  const measured = records.filter((record) => record.run > 0);
  const runs = [...new Set(measured.map((record) => record.run))];
  const of = (side: SideName, run: number) => records.find((record) => record.side === side && record.run === run);

  console.log(`\n${hosts} hosts, batches of ${batch}; ${runs.length} measured runs after a warm-up run; the sides take turns going first`);
  console.log(`app: a ${input.repoFiles}-file repository; pre-link and post-deploy each a #!/bin/sh script writing a marker file; release strategy`);
  if (sides.includes("deploykit") || sides.includes("direct")) {
    console.log(
      `agents: ${hosts} deploy agents (deployAgent.start) in ${input.processes} processes, ${input.busMode === "shared" ? "one bus connection per process" : "one bus connection per agent"}; ` +
        `all started and announced on hosts.alive in ${s(input.swarmStartMs, 0)} s; RSS per process ${input.swarmRssMb.map((mb) => mb.toFixed(0)).join(", ")} MB after the runs`,
    );
    console.log(
      `deploykit: the conductor in this process (ledger ${input.ledger}; canary 0, batch size as above, failure budget 0); the embedded broker ${input.broker === "process" ? "in a process of its own (deploykit broker)" : "in this process too"}`,
    );
  }
  if (input.ansibleVersion) {
    console.log(
      `Ansible: ${input.ansibleVersion}, ${hosts} inventory hosts, ansible_connection=local, forks ${input.forks}, gathering = explicit, pipelining on, ${input.serial > 0 ? `serial ${input.serial}` : "no serial"}, 4 tasks per host`,
    );
  }
  console.log(`machine: ${input.machine}; every side runs as ${process.getuid?.() === 0 ? "root" : "this user"}`);

  const header = ["run".padEnd(8), ...sides.map((side) => `${side} s`.padStart(12))];
  const both = sides.includes("deploykit") && sides.includes("ansible");
  if (both) header.push("Ansible/dk".padStart(11));
  if (sides.includes("deploykit")) header.push("overhead s".padStart(11), "of wall".padStart(8));
  console.log(`\n${header.join(" ")}`);
  for (const run of [0, ...runs]) {
    const deploykit = of("deploykit", run);
    const cells = [(run === 0 ? "warm-up" : `run ${run}`).padEnd(8), ...sides.map((side) => s(of(side, run)?.wallMs ?? Number.NaN, 12))];
    if (both) cells.push(n((of("ansible", run)?.wallMs ?? Number.NaN) / (deploykit?.wallMs ?? Number.NaN), 1, 11));
    if (deploykit?.figures) cells.push(s(deploykit.figures.overheadMs, 11), `${n((100 * deploykit.figures.overheadMs) / deploykit.wallMs, 0, 7)}%`);
    console.log(cells.join(" "));
  }

  console.log(`\n${"median of the measured runs".padEnd(44)}  wall s  machine CPU s  agents' Node CPU s  agents' children CPU s`);
  for (const side of sides) {
    const mine = measured.filter((record) => record.side === side);
    const agents = side === "deploykit" || side === "direct";
    const agentCpu = agents
      ? `${n(median(mine.map((r) => r.agentNodeCpuSeconds)), 1, 18)} ${n(median(mine.map((r) => r.agentChildCpuSeconds)), 1, 23)}`
      : "".padStart(18);
    console.log(`${sideLabels[side].padEnd(44)}${s(median(mine.map((r) => r.wallMs)))} ${n(median(mine.map((r) => r.cpuSeconds)), 1, 14)} ${agentCpu}`);
  }
  const dk = measured.filter((record) => record.side === "deploykit");
  if (both) {
    const ratios = runs.map((run) => (of("ansible", run)?.wallMs ?? Number.NaN) / (of("deploykit", run)?.wallMs ?? Number.NaN));
    const ratio = median(measured.filter((r) => r.side === "ansible").map((r) => r.wallMs)) / median(dk.map((r) => r.wallMs));
    console.log(`\nAnsible / deploykit wall time: ${ratio.toFixed(1)}× (medians); per run ${ratios.map((r) => r.toFixed(1)).join(", ")}`);
    console.log(`goal: deploykit at least ${GOAL_RATIO}× faster than Ansible: ${ratio >= GOAL_RATIO ? "met" : "MISSED"}`);
  }
  if (sides.includes("deploykit") && sides.includes("direct")) {
    const added = median(dk.map((r) => r.wallMs)) - median(measured.filter((r) => r.side === "direct").map((r) => r.wallMs));
    console.log(`the conductor's part: deploykit − agents alone = ${s(added, 0)} s (medians)`);
  }
  for (const side of ["deploykit", "direct"] as const) {
    const withFigures = measured.filter((record) => record.side === side && record.figures);
    if (withFigures.length === 0) continue;
    printWhereTimeGoes(side, withFigures, batch);
  }
}

/** Overhead and the split of the median run (by wall time) of one agent-driven side. */
function printWhereTimeGoes(side: "deploykit" | "direct", records: RunRecord[], batch: number): void {
  const sorted = [...records].sort((a, b) => a.wallMs - b.wallMs);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)] as RunRecord;
  const figures = mid.figures as RolloutFigures;
  const perHost = (ms: number) => n(ms / figures.hosts, 1, 9);
  console.log(`\n${side === "deploykit" ? "deploykit (through the conductor)" : "agents alone (the bench signs each batch)"}, the median run (${mid.label}):`);
  console.log(`  wall ${s(figures.wallMs, 0)} s${mid.ledgerMs !== undefined ? ` (ledger: created → finished ${s(mid.ledgerMs, 0)} s)` : ""}`);
  console.log(
    `  Σ per-host step time ${s(figures.stepSumMs, 0)} s / ${batch} = ${s(figures.idealMs, 0)} s; overhead ${s(figures.overheadMs, 0)} s ` +
      `(${((100 * figures.overheadMs) / figures.wallMs).toFixed(0)}% of the wall time); overhead per run: ${records.map((r) => s(r.figures?.overheadMs ?? Number.NaN, 0)).join(", ")} s`,
  );
  console.log(
    `  machine CPU ${mid.cpuSeconds.toFixed(1)} s: the agents' Node threads ${mid.agentNodeCpuSeconds.toFixed(1)} s, their children (git, scripts, sync) ${mid.agentChildCpuSeconds.toFixed(1)} s, ` +
      `broker + conductor + bench ${(mid.nodeCpuSeconds - mid.agentNodeCpuSeconds).toFixed(1)} s, the rest (kernel, other processes) ${(mid.cpuSeconds - mid.nodeCpuSeconds - mid.agentChildCpuSeconds).toFixed(1)} s`,
  );
  console.log(`  ${"one host, request sent → answer in: mean ms".padEnd(44)}`);
  console.log(`    ${"request sent → first step started".padEnd(42)}${n(figures.meanToFirstStepMs, 1, 9)}`);
  for (const [step, ms] of Object.entries(figures.perStep)) console.log(`    ${`${step} step`.padEnd(42)}${perHost(ms)}`);
  console.log(`    ${"between steps".padEnd(42)}${n(figures.meanBetweenStepsMs, 1, 9)}`);
  console.log(`    ${"last step ended → answer in".padEnd(42)}${n(figures.meanAfterLastStepMs, 1, 9)}`);
  console.log(`    ${"(the agent's own durationMs)".padEnd(42)}${perHost(figures.runSumMs)}`);
  console.log(`  ${"per batch".padEnd(44)}  wall s  slowest host s`);
  for (const b of figures.batches) console.log(`    batch ${String(b.batch).padEnd(36)}${s(b.wallMs)} ${s(b.slowestHostMs, 15)}`);
  console.log(`    ${"between batches, in all".padEnd(42)}${s(figures.betweenBatchesMs)}`);
  if (mid.edgesMs) {
    console.log(`    ${"POST sent → first batch's request out".padEnd(42)}${s(mid.edgesMs.start)}`);
    console.log(`    ${"last answer in → the poll sees it finished".padEnd(42)}${s(mid.edgesMs.end)}`);
  }
}
