import type { Deploy, DeployHost, DeploySnapshot } from "../shared/api-types.ts";
import { currentStep, type DeployView, troubledHosts } from "./deploy-view.ts";
import { visibleWidth } from "./format-table.ts";
import { formatDuration, formatElapsed, span } from "./format-time.ts";

// What an operator sees of a rollout: a frame redrawn in place on a terminal,
// and the report left on screen at the end. Every outcome is a word and a
// symbol; colour only repeats what the text says.

export type HostState = DeployHost["outcome"] | "running";

const looks = {
  succeeded: { symbol: "✓", color: 32 },
  failed: { symbol: "✗", color: 31 },
  "rolled-back": { symbol: "↺", color: 33 },
  refused: { symbol: "⊘", color: 31 },
  timeout: { symbol: "?", color: 31 },
  skipped: { symbol: "-", color: 2 },
  running: { symbol: "…", color: 36 },
  pending: { symbol: "·", color: 2 },
} as const satisfies Record<HostState, { symbol: string; color: number }>;

const wordWidth = Math.max(...Object.keys(looks).map((word) => word.length));

export interface RenderOptions {
  /** The time the frame is drawn at (ms since the epoch), for running clocks. */
  now: number;
  color?: boolean;
  /** Most lines the frame may take (the terminal's height); the report at the end takes what it needs. */
  maxLines?: number;
}

/** "pending" is split: a host whose batch was requested is running. */
export function hostState(view: DeploySnapshot, host: DeployHost): HostState {
  if (host.outcome !== "pending") return host.outcome;
  return host.requestedAt || currentStep(view, host.host) ? "running" : "pending";
}

export function paint(text: string, state: HostState, color: boolean | undefined): string {
  return color ? `\x1b[${looks[state].color}m${text}\x1b[0m` : text;
}

/** "✓ succeeded", "✗ failed": the symbol and the word, padded so host names line up. */
export function outcomeLabel(state: HostState, color?: boolean): string {
  return paint(`${looks[state].symbol} ${state.padEnd(wordWidth)}`, state, color);
}

/** `shop → production  #42  v2.3.1 (1a2b3c4d)  running  0:37`; without `now`, no clock. */
export function renderHeader(deploy: Deploy, now?: number): string {
  const what = deploy.action === "rollback" ? `rollback to ${deploy.ref}` : deploy.ref;
  const state = deploy.state === "queued" && deploy.position !== undefined ? `queued (position ${deploy.position})` : deploy.state;
  const elapsed = now === undefined ? undefined : span(deploy.startedAt, deploy.finishedAt, now);
  return [`${deploy.app} → ${deploy.environment}`, `#${deploy.number}`, `${what} (${sha8(deploy.sha)})`, state, elapsed === undefined ? "" : formatElapsed(elapsed)]
    .filter((part) => part !== "")
    .join("  ");
}

/** The second line: who, which deploy id to give `cancel` and `logs`, and anything unusual. */
export function renderByline(deploy: Deploy): string {
  const parts = [`deploy ${deploy.id} by ${deploy.actor}`];
  if (deploy.requestedHosts) parts.push(`hosts ${deploy.requestedHosts.join(", ")}`);
  if (deploy.forced) parts.push("CI gate forced");
  return parts.join(" · ");
}

/** What a host line says after its name: the release, where it failed and why, or the step it is in. */
export function hostDetail(view: DeploySnapshot, host: DeployHost, now: number): string {
  const took = host.durationMs === null ? "" : `  ${formatDuration(host.durationMs)}`;
  const why = host.reason ?? "";
  const where = host.failedStep ? `at ${host.failedStep}` : "";
  const unexpected = host.unexpected ? "  (unexpected: not in the plan)" : "";
  const state = hostState(view, host);
  let detail: string;
  switch (state) {
    case "succeeded":
      detail = `${host.release ?? ""}${took}`;
      break;
    case "failed":
      detail = joinReason(where, why) + took;
      break;
    case "rolled-back":
      detail = `${joinReason(where, why)}${host.previousRelease ? `; back on ${host.previousRelease}` : ""}${took}`;
      break;
    case "refused":
      detail = why || "the agent refused the request";
      break;
    case "timeout":
      detail = joinReason(where ? `no answer, last ${where}` : "no answer", why);
      break;
    case "skipped":
      detail = why || "not deployed: the rollout stopped before this batch";
      break;
    case "running": {
      const step = currentStep(view, host.host);
      const stepTime = step ? span(step.startedAt, null, now) : undefined;
      // Between two steps, the last one finished says where the host is rather than "waiting".
      const last = view.steps.findLast((s) => s.host === host.host);
      if (step) detail = `${step.step}${stepTime === undefined ? "" : ` ${formatElapsed(stepTime)}`}`;
      else detail = last ? `${last.step} ${last.state}` : "waiting for the agent";
      break;
    }
    case "pending":
      detail = "waiting for its batch";
      break;
    default: {
      const never: never = state;
      detail = never;
    }
  }
  return (detail + unexpected).trim();
}

function joinReason(where: string, why: string): string {
  return where && why ? `${where}: ${why}` : where || why;
}

/** "1 succeeded, 1 failed, 2 pending" in a fixed order. */
export function countStates(view: DeploySnapshot, hosts: readonly DeployHost[]): string {
  const counts = new Map<HostState, number>();
  for (const host of hosts) {
    const state = hostState(view, host);
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return (Object.keys(looks) as HostState[])
    .filter((state) => counts.has(state))
    .map((state) => `${counts.get(state)} ${state}`)
    .join(", ");
}

/** The live frame. Longer than maxLines, it first folds away finished batches, then waiting and succeeded hosts, then cuts. */
export function renderDeploy(view: DeployView, options: RenderOptions): string[] {
  const max = options.maxLines ?? Number.POSITIVE_INFINITY;
  let lines: string[] = [];
  for (let fold = 0; fold <= 2; fold++) {
    lines = frame(view, options, fold);
    if (lines.length <= max) return lines;
  }
  const kept = Math.max(1, max - 1);
  return [...lines.slice(0, kept), `… ${lines.length - kept} more lines: the report at the end lists every host`];
}

function frame(view: DeployView, options: RenderOptions, fold: number): string[] {
  const { deploy } = view;
  const lines = [renderHeader(deploy, options.now), `  ${renderByline(deploy)}`];
  if (deploy.message) lines.push(`  ${deploy.message}`);
  const byName = new Map(view.hosts.map((h) => [h.host, h]));
  const nameWidth = Math.max(0, ...view.hosts.map((h) => visibleWidth(h.host)));
  for (const batch of view.batches) {
    const hosts = batch.hosts.map((name) => byName.get(name) ?? placeholder(name, batch.batch));
    const label = batch.canary ? `batch ${batch.batch} (canary)` : `batch ${batch.batch}`;
    lines.push(`  ${label}  ${countStates(view, hosts)}`);
    const allSucceeded = hosts.every((h) => h.outcome === "succeeded");
    if (fold >= 1 && allSucceeded) continue;
    for (const host of hosts) {
      const state = hostState(view, host);
      if (fold >= 2 && (state === "succeeded" || state === "pending")) continue;
      lines.push(hostLine(view, host, options, nameWidth));
    }
  }
  const planned = new Set(view.batches.flatMap((b) => b.hosts));
  const outside = view.hosts.filter((h) => !planned.has(h.host));
  if (outside.length > 0) {
    lines.push(`  not in the plan  ${countStates(view, outside)}`);
    for (const host of outside) lines.push(hostLine(view, host, options, nameWidth));
  }
  if (view.batches.length === 0 && deploy.state === "queued") lines.push("  waiting for the deploy ahead of it to finish");
  return lines;
}

function hostLine(view: DeployView, host: DeployHost, options: RenderOptions, nameWidth: number): string {
  return `    ${outcomeLabel(hostState(view, host), options.color)}  ${host.host.padEnd(nameWidth)}  ${hostDetail(view, host, options.now)}`.trimEnd();
}

/** A host the plan lists but no host record has arrived for yet. */
function placeholder(host: string, batch: number): DeployHost {
  return {
    host,
    batch,
    outcome: "pending",
    unexpected: false,
    release: null,
    previousRelease: null,
    failedStep: null,
    reason: null,
    requestedAt: null,
    finishedAt: null,
    durationMs: null,
  };
}

/** For each host that failed, timed out, was refused or rolled back: what happened and the last lines of its log. */
export function renderFailureLogs(view: DeployView, options: { color?: boolean } = {}): string[] {
  const lines: string[] = [];
  for (const host of troubledHosts(view)) {
    const log = view.logs[host.host] ?? [];
    const state = hostState(view, host);
    lines.push("");
    const detail = hostDetail(view, host, 0);
    lines.push(`${paint(`${host.host} ${state}`, state, options.color)}${detail.startsWith("at ") ? " " : ": "}${detail}`);
    if (log.length === 0) lines.push(`  (no log lines from ${host.host})`);
    else {
      lines.push(`  last ${log.length} log line${log.length === 1 ? "" : "s"}:`);
      for (const line of log) lines.push(`  ${host.host} | ${line.text}`);
    }
  }
  return lines;
}

/** The last line of a rollout's output: `shop → production #42 v2.3.1 failed after 1:02: 1 succeeded, 1 failed`. */
export function renderSummary(view: DeploySnapshot, now: number): string {
  const { deploy } = view;
  const took = span(deploy.startedAt, deploy.finishedAt, now);
  const what = deploy.action === "rollback" ? `rollback to ${deploy.ref}` : deploy.ref;
  // Unexpected hosts are flagged, never counted (as the conductor counts).
  const unexpected = view.hosts.filter((h) => h.unexpected).length;
  const counts = [countStates(view, view.hosts.filter((h) => !h.unexpected)), unexpected > 0 ? `${unexpected} unexpected` : ""].filter((c) => c).join(", ");
  // A success's message only repeats the counts; any other state's says why.
  const message = deploy.message && deploy.state !== "succeeded" ? `; ${deploy.message}` : "";
  return `${deploy.app} → ${deploy.environment} #${deploy.number} ${what} ${deploy.state}${took === undefined ? "" : ` after ${formatDuration(took)}`}${counts ? `: ${counts}` : ""}${message}`;
}

export function sha8(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 8) : "-";
}
