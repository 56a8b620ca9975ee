// bench/agent: what the deploy agent costs on a server. (a) Its resident
// memory when idle, beside a bare Node process doing nothing. (b) Deploys of
// a small repository through the agent (signed request on the embedded
// broker → deploy.results), beside a plain shell script doing the same steps
// (git archive | tar, pre-link, atomic switch of current, restart,
// post-deploy), interleaved in rounds so machine noise hits both. An
// untimed pause (--pause, 10 ms) follows every deploy of either kind: the
// agent publishes a result a moment before it takes the app's next request.
// docs/benchmarks.md explains the method and holds measured figures.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type AgentBenchRig, type AgentDeploySample, startAgentBenchRig } from "./agent-bench-rig.ts";
import { machineCpuSeconds, processCpuSeconds } from "./process-stats.ts";

const { values: args } = parseArgs({
  options: {
    deploys: { type: "string", default: "100" },
    rounds: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    agent: { type: "string", default: "child" },
    pause: { type: "string", default: "10" },
  },
});
const deploys = Number(args.deploys);
const rounds = Math.max(1, Math.min(Number(args.rounds), deploys));
const warmup = Number(args.warmup);
const inProcess = args.agent === "in-process";
/** Untimed, after every deploy of either kind: see "busy" in the output. */
const pauseMs = Number(args.pause);
if (!Number.isInteger(deploys) || deploys < 1 || !Number.isInteger(warmup) || warmup < 0 || !(pauseMs >= 0) || !["child", "in-process"].includes(args.agent as string)) {
  throw new Error("usage: node dist/bench/agent.js [--deploys N] [--rounds R] [--warmup W] [--agent child|in-process] [--pause MS]");
}

const IDLE_WAIT_MS = 2_000;
const RSS_GOAL_MB = 60;
const ADDED_GOAL_MS = 50;
const steps = ["preflight", "fetch", "pre-link", "link", "restart", "post-deploy"] as const;
const stepLabels: Record<(typeof steps)[number], string> = {
  preflight: "preflight step (lock, checks, git reads)",
  fetch: "fetch step (git archive → tar, metadata)",
  "pre-link": "pre-link step (script)",
  link: "link step (switch current)",
  restart: "restart step (script)",
  "post-deploy": "post-deploy step (script)",
};

/** VmRSS and VmHWM (peak) of a process, in MB, from /proc. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function summary(samples: number[]): { mean: number; p50: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { mean: samples.reduce((sum, n) => sum + n, 0) / samples.length, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) };
}

/** Where one agent deploy's time went, from its deploy.progress and deploy.results messages. */
function breakdown(sample: AgentDeploySample): Record<string, number> {
  const took: Record<string, number> = {};
  let preflightAt = Number.NaN;
  for (const message of sample.progress) {
    const { step, state, lines } = message.body;
    if (step === "preflight" && state === "started") preflightAt = Date.parse(message.time);
    if (state !== "succeeded") continue;
    for (const line of lines) {
      const match = /^\S+ took (\d+) ms$/.exec(line.text);
      if (match) took[step] = Number(match[1]);
    }
  }
  const toPreflight = preflightAt - sample.startedAt;
  const inSteps = steps.reduce((sum, step) => sum + (took[step] ?? 0), 0);
  const run = sample.result.body.durationMs;
  return {
    "sign, publish → preflight started": toPreflight,
    "  (sign + publish until the receipt is back)": sample.publishMs,
    ...Object.fromEntries(steps.map((step) => [stepLabels[step], took[step] ?? Number.NaN])),
    "in the run, outside the steps (prune, reports)": run - inSteps,
    "run ended → deploy.results here (drain, publish)": sample.wallMs - toPreflight - run,
  };
}

async function idleRss(rig: AgentBenchRig): Promise<{ agent: { rss: number; peak: number }; bare: { rss: number; peak: number }; agentPid: number }> {
  await rig.agentStarted(30_000);
  const agentPid = rig.agentPid() as number;
  // The bare process has no startup message: it is idle within ~50 ms of its spawn, and gets the same 2 s.
  const bare = spawn(process.execPath, ["-e", "setInterval(()=>{},1000)"], { stdio: "ignore" });
  await new Promise((resolve, reject) => bare.once("spawn", resolve).once("error", reject));
  try {
    await sleep(IDLE_WAIT_MS);
    return { agent: memoryOf(agentPid), bare: memoryOf(bare.pid as number), agentPid };
  } finally {
    bare.kill("SIGKILL");
  }
}

async function main(): Promise<void> {
  const rig = await startAgentBenchRig({ tagCount: deploys + warmup, identity: "bench-web-1" });
  try {
    const load = loadavg()[0]?.toFixed(2);
    const memory = await idleRss(rig);
    if (inProcess) {
      await rig.moveAgentInProcess();
      await rig.agentStarted(30_000);
    }

    const agentMs: number[] = [];
    const shellMs: number[] = [];
    const parts: Record<string, number>[] = [];
    let next = 0;
    let shellN = 0;
    let busy = 0;
    for (let i = 0; i < warmup; i++) {
      const tag = rig.tags[next++] as (typeof rig.tags)[number];
      await rig.deployWithAgent(tag);
      await sleep(pauseMs);
      await rig.deployWithShell(tag, shellN++);
      await sleep(pauseMs);
    }
    const started = Date.now();
    const agentPid = rig.agentPid() ?? process.pid;
    const cpuBefore = { machine: machineCpuSeconds(), agent: processCpuSeconds(agentPid) ?? 0, bench: processCpuSeconds(process.pid) ?? 0 };
    for (let round = 0; round < rounds; round++) {
      const count = Math.floor(((round + 1) * deploys) / rounds) - Math.floor((round * deploys) / rounds);
      const block = rig.tags.slice(next, next + count);
      next += count;
      const agentBlock = async () => {
        for (const tag of block) {
          const sample = await rig.deployWithAgent(tag);
          agentMs.push(sample.wallMs);
          parts.push(breakdown(sample));
          busy += sample.busy;
          await sleep(pauseMs);
        }
      };
      const shellBlock = async () => {
        for (const tag of block) {
          shellMs.push(await rig.deployWithShell(tag, shellN++));
          await sleep(pauseMs);
        }
      };
      // Each goes first every other round, so neither always follows the other's leftovers.
      if (round % 2 === 0) {
        await agentBlock();
        await shellBlock();
      } else {
        await shellBlock();
        await agentBlock();
      }
    }
    const measuredS = (Date.now() - started) / 1000;
    const machineAfter = machineCpuSeconds();
    const cores = (seconds: number) => (seconds / measuredS).toFixed(2);
    const agentCpu = (processCpuSeconds(agentPid) ?? 0) - cpuBefore.agent;
    const benchCpu = (processCpuSeconds(process.pid) ?? 0) - cpuBefore.bench;
    const machineBusy = machineAfter.busy - cpuBefore.machine.busy;
    const afterDeploys = inProcess ? undefined : memoryOf(memory.agentPid);

    const cpu = cpus();
    const fmt = (n: number, width = 9) => (Number.isNaN(n) ? "n/a" : n.toFixed(1)).padStart(width);
    console.log(
      `${deploys} deploys each, in ${rounds} rounds of ~${Math.round(deploys / rounds)} (agent and shell alternating which goes first), after ${warmup} warm-up deploys each; ${measuredS.toFixed(1)} s measured`,
    );
    console.log(
      `app: ${rig.files}-file repository, deploykit.yml with pre-link, post-deploy and restart scripts (#!/bin/sh, exit 0), release strategy, keep 5`,
    );
    console.log(
      `agent: ${inProcess ? "deployAgent.start in this process" : `\`node dist/cli/deploykit.js daemon deploy-agent\` (pid ${memory.agentPid})`}, log level warn; embedded broker in this process`,
    );
    console.log("both run as root and the app's user is root (user: root): neither pays for a user switch");
    console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? "CPU"}, Node ${process.version}; load average ${load} at start`);

    const label = (text: string) => text.padEnd(52);
    console.log(`\n${label(`(a) idle memory, ${IDLE_WAIT_MS / 1000} s after start`)} VmRSS MB  VmHWM MB`);
    console.log(`${label("deploy-agent (after its hosts.alive startup)")}${fmt(memory.agent.rss)} ${fmt(memory.agent.peak)}`);
    console.log(`${label('bare node -e "setInterval(()=>{},1000)"')}${fmt(memory.bare.rss)} ${fmt(memory.bare.peak)}`);
    if (afterDeploys) console.log(`${label(`deploy-agent after the ${deploys + warmup} deploys`)}${fmt(afterDeploys.rss)} ${fmt(afterDeploys.peak)}`);
    const rssRatio = memory.agent.rss / memory.bare.rss;
    console.log(`ratio agent / bare node: ${rssRatio.toFixed(2)}; the agent's own share: ${(memory.agent.rss - memory.bare.rss).toFixed(1)} MB`);

    const a = summary(agentMs);
    const s = summary(shellMs);
    console.log(`\n${label("(b) one deploy, wall time")}  mean ms    p50 ms    p95 ms`);
    console.log(`${label("agent: sign + publish → deploy.results here")}${fmt(a.mean)} ${fmt(a.p50)} ${fmt(a.p95)}`);
    console.log(`${label("shell script (/bin/sh, the same steps)")}${fmt(s.mean)} ${fmt(s.p50)} ${fmt(s.p95)}`);
    console.log(`${label("added by the agent (agent − shell)")}${fmt(a.mean - s.mean)} ${fmt(a.p50 - s.p50)} ${fmt(a.p95 - s.p95)}`);
    console.log(
      `cpu over the measured rounds, in cores (the machine has ${cpus().length}): ${inProcess ? `agent + broker + bench ${cores(agentCpu)}` : `agent ${cores(agentCpu)}, broker + bench ${cores(benchCpu)}`}, ` +
        `everything else (git, scripts, the shell deploys, other users) ${cores(machineBusy - agentCpu - (inProcess ? 0 : benchCpu))}, steal ${cores(machineAfter.steal - cpuBefore.machine.steal)}`,
    );
    if (!inProcess) console.log(`agent's own CPU per deploy (its process only, not git or the scripts): ${((agentCpu * 1000) / (deploys)).toFixed(1)} ms`);
    console.log(
      `busy: ${busy} request(s) refused as "another deploy of shop is running" right after the previous result (resent; the time counts from the resend); ${pauseMs} ms untimed pause after every deploy of either kind`,
    );
    console.log(`ratio agent / shell: mean ${(a.mean / s.mean).toFixed(2)}, p50 ${(a.p50 / s.p50).toFixed(2)}, p95 ${(a.p95 / s.p95).toFixed(2)}`);

    console.log(`\n${label("where the agent's time goes (deploy.progress, .results)")}  mean ms    p50 ms`);
    for (const key of Object.keys(parts[0] ?? {})) {
      const part = summary(parts.map((p) => p[key] as number));
      console.log(`${label(`  ${key}`)}${fmt(part.mean)} ${fmt(part.p50)}`);
    }

    const rssMet = memory.agent.rss < RSS_GOAL_MB;
    const addedMet = a.mean - s.mean < ADDED_GOAL_MS;
    console.log(
      `\ngoal: agent idle RSS under ${RSS_GOAL_MB} MB: ${rssMet ? "met" : "MISSED"} (${memory.agent.rss.toFixed(1)} MB); ` +
        `agent adds under ${ADDED_GOAL_MS} ms per deploy over the shell script: ${addedMet ? "met" : "MISSED"} (mean +${(a.mean - s.mean).toFixed(1)} ms, p50 +${(a.p50 - s.p50).toFixed(1)} ms)`,
    );
  } finally {
    await rig.stop();
  }
}

await main().catch((err: Error) => {
  console.log(`ABORTED: ${err.message}`);
  process.exitCode = 1;
});
