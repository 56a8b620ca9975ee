import type { Deploy, DeployHost, DeploySnapshot, LogLine, Step } from "../shared/api-types.ts";
import { CliError } from "./cli-error.ts";
import type { SseEvent } from "./sse-stream.ts";

// What the CLI knows of one deploy: the stream's snapshot with every later
// event folded in. Pure, so the renderers can be tested on recorded sequences.

export type DeployStreamEvent =
  | { event: "snapshot"; data: DeploySnapshot }
  | { event: "deploy"; data: Deploy }
  | { event: "host"; data: DeployHost }
  | { event: "step"; data: Step }
  | { event: "log"; data: { host: string; lines: LogLine[] } }
  | { event: "end"; data: unknown };

export interface DeployView extends DeploySnapshot {
  /** The last lines of each host's log seen on the stream (or fetched), for the report of a failed host. */
  logs: Record<string, LogLine[]>;
  /** The stream said `end`. */
  ended: boolean;
}

/** Log lines kept per host for the final report. */
export const defaultLogTail = 20;

const streamEvents = new Set(["snapshot", "deploy", "host", "step", "log", "end"]);

/** One server-sent event as a typed one; undefined for event names this CLI does not know (a newer conductor). */
export function parseStreamEvent(sse: SseEvent): DeployStreamEvent | undefined {
  if (!streamEvents.has(sse.event)) return undefined;
  let data: unknown;
  try {
    data = sse.data === "" ? null : JSON.parse(sse.data);
  } catch {
    // `end` may carry nothing useful; the others must be JSON.
    if (sse.event === "end") return { event: "end", data: sse.data };
    throw new CliError(`the deploy stream sent a "${sse.event}" event that is not JSON: ${sse.data.slice(0, 200)}`, 76);
  }
  return { event: sse.event, data } as DeployStreamEvent;
}

export function deployView(snapshot: DeploySnapshot): DeployView {
  return { ...pick(snapshot), logs: {}, ended: false };
}

export function applyDeployEvent(view: DeployView, event: DeployStreamEvent, tail = defaultLogTail): DeployView {
  switch (event.event) {
    case "snapshot":
      // A re-opened stream or a fetched snapshot replaces everything but the logs, which snapshots do not carry.
      return { ...pick(event.data), logs: view.logs, ended: view.ended };
    case "deploy":
      return { ...view, deploy: event.data };
    case "host": {
      const host = event.data;
      const known = view.hosts.some((h) => h.host === host.host);
      const hosts = known ? view.hosts.map((h) => (h.host === host.host ? host : h)) : [...view.hosts, host];
      // Unexpected hosts (batch -1) are in no batch: the conductor lists them apart, so does the view.
      const batches = host.batch < 0
        ? view.batches
        : view.batches.some((b) => b.batch === host.batch)
        ? view.batches.map((b) => (b.batch === host.batch && !b.hosts.includes(host.host) ? { ...b, hosts: [...b.hosts, host.host] } : b))
        : [...view.batches, { batch: host.batch, hosts: [host.host] }].sort((a, b) => a.batch - b.batch);
      return { ...view, hosts, batches };
    }
    case "step": {
      const step = event.data;
      const index = view.steps.findLastIndex((s) => s.host === step.host && s.step === step.step && s.startedAt === step.startedAt);
      const steps = index === -1 ? [...view.steps, step] : view.steps.with(index, step);
      return { ...view, steps };
    }
    case "log":
      return { ...view, logs: appendLogs(view.logs, event.data.host, event.data.lines, tail) };
    case "end":
      return { ...view, ended: true };
    default: {
      const never: never = event;
      return never;
    }
  }
}

/** Adds lines to a host's kept tail by offset, so lines that arrive twice (a backlog fetched while the stream also sent them) or late are kept once and in order. */
export function appendLogs(logs: Record<string, LogLine[]>, host: string, lines: LogLine[], tail = defaultLogTail): Record<string, LogLine[]> {
  if (lines.length === 0) return logs;
  const byOffset = new Map((logs[host] ?? []).map((line) => [line.offset, line]));
  for (const line of lines) byOffset.set(line.offset, line);
  const merged = [...byOffset.values()].sort((a, b) => a.offset - b.offset).slice(-tail);
  return { ...logs, [host]: merged };
}

/** The step a host is in now: the last one started and not finished. */
export function currentStep(view: DeploySnapshot, host: string): Step | undefined {
  return view.steps.findLast((s) => s.host === host && (s.state === "started" || s.state === "running"));
}

/** Hosts whose outcome an operator must look at. */
export function troubledHosts(view: DeploySnapshot): DeployHost[] {
  return view.hosts.filter((h) => h.outcome === "failed" || h.outcome === "rolled-back" || h.outcome === "refused" || h.outcome === "timeout");
}

function pick(snapshot: DeploySnapshot): DeploySnapshot {
  return { deploy: snapshot.deploy, hosts: snapshot.hosts ?? [], steps: snapshot.steps ?? [], batches: snapshot.batches ?? [] };
}
