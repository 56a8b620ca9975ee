import type { Deploy, DeployHost, DeploySnapshot, LogLine, Step } from "../../shared/api-types.ts";
import type { StreamEvent } from "./deploy-stream.ts";

/** A deploy as its page shows it: the last snapshot with every later event applied, and each host's log. */
export interface LiveDeploy {
  deploy: Deploy;
  hosts: DeployHost[];
  steps: Step[];
  batches: DeploySnapshot["batches"];
  /** host → its lines in offset order (no offset twice). */
  logs: Map<string, LogLine[]>;
}

export function fromSnapshot(snapshot: DeploySnapshot, logs: Map<string, LogLine[]> = new Map()): LiveDeploy {
  return { ...snapshot, logs };
}

/** Events carry whole records, and may repeat what a snapshot showed: applying one twice changes nothing. */
export function applyEvent(state: LiveDeploy | undefined, event: StreamEvent): LiveDeploy | undefined {
  if (event.type === "snapshot") return fromSnapshot(event.data, state?.logs);
  if (state === undefined) return state;
  switch (event.type) {
    case "deploy":
      return { ...state, deploy: event.data };
    case "host": {
      const others = state.hosts.filter((host) => host.host !== event.data.host);
      return { ...state, hosts: [...others, event.data] };
    }
    case "step": {
      const others = state.steps.filter((step) => !(step.host === event.data.host && step.step === event.data.step));
      return { ...state, steps: [...others, event.data] };
    }
    case "log":
      return { ...state, logs: mergeLines(state.logs, event.data.host, event.data.lines) };
    default:
      return state;
  }
}

/** Adds lines to a host's log by offset; lines already there are skipped (a backfill and the stream overlap). */
export function mergeLines(logs: Map<string, LogLine[]>, host: string, lines: readonly LogLine[]): Map<string, LogLine[]> {
  if (lines.length === 0) return logs;
  const current = logs.get(host) ?? [];
  const last = current.at(-1)?.offset ?? -1;
  let merged: LogLine[];
  if (lines.every((line, index) => line.offset > last && (index === 0 || line.offset > (lines[index - 1] as LogLine).offset))) {
    merged = [...current, ...lines];
  } else {
    const byOffset = new Map(current.map((line) => [line.offset, line]));
    for (const line of lines) byOffset.set(line.offset, line);
    merged = [...byOffset.values()].sort((a, b) => a.offset - b.offset);
  }
  const next = new Map(logs);
  next.set(host, merged);
  return next;
}

/** The offset to read a host's log from: one past the last line held. */
export function nextOffset(state: LiveDeploy | undefined, host: string): number {
  return (state?.logs.get(host)?.at(-1)?.offset ?? -1) + 1;
}
