// The parent's side of bench/rollout/agent-swarm.ts: starts the swarm
// processes (e.g. 4 × 50 agents), waits until each says every one of its
// agents has started, and stops them all with SIGTERM (SIGKILL after 15 s).
// Hosts are dealt out round robin (process n holds bench-n, bench-n+P, ...),
// so each batch of consecutive hosts is spread over every process, as a
// batch on a real fleet is spread over many servers.
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { SwarmMessage } from "./agent-swarm.ts";

export interface SwarmOptions {
  url: string;
  prefix: string;
  base: string;
  hosts: number;
  processes: number;
  trusted: string;
  mirror: string;
  bus: "shared" | "each";
  aliveIntervalMs: number;
}

export interface AgentSwarm {
  pids: number[];
  /** Per process: from its spawn until every one of its agents had started. */
  startMs: number[];
  /** The last lines the processes wrote to stderr (agent warnings and errors). */
  output(): string;
  stop(): Promise<void>;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export async function spawnAgentSwarm(options: SwarmOptions, timeoutMs = 120_000): Promise<AgentSwarm> {
  const entry = join(import.meta.dirname, "agent-swarm.js");
  const children: ChildProcess[] = [];
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  // A bench that dies of an uncaught exception must not leave 200 agents running.
  const orphanGuard = () => {
    for (const child of children) child.kill("SIGKILL");
  };
  process.once("exit", orphanGuard);
  const stop = async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(orphanGuard, 15_000);
    await Promise.all(children.map(exited));
    clearTimeout(timer);
    process.off("exit", orphanGuard);
  };
  const ready: Promise<number>[] = [];
  for (let n = 0; n < options.processes; n++) {
    const from = n;
    const count = Math.ceil((options.hosts - n) / options.processes);
    const argv = [
      ...["--url", options.url, "--prefix", options.prefix, "--base", options.base],
      ...["--from", String(from), "--step", String(options.processes), "--count", String(count), "--trusted", options.trusted, "--mirror", options.mirror],
      ...["--bus", options.bus, "--alive-interval", String(options.aliveIntervalMs)],
    ];
    const child = spawn(process.execPath, [entry, ...argv], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    child.stderr?.on("data", keep);
    children.push(child);
    ready.push(
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`swarm process ${n} (agents bench-${from}, bench-${from + options.processes}, ...) was not ready within ${timeoutMs} ms`)), timeoutMs);
        child.on("message", (message: SwarmMessage) => {
          clearTimeout(timer);
          if (message.type === "ready") resolve(message.startMs);
          else reject(new Error(message.message));
        });
        child.once("exit", (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`swarm process ${n} exited (${code ?? signal}) before it was ready:\n${lines.join("\n")}`));
        });
      }),
    );
  }
  try {
    const startMs = await Promise.all(ready);
    return { pids: children.map((child) => child.pid as number), startMs, output: () => lines.join("\n"), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
