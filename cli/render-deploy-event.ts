import type { DeployStreamEvent, DeployView } from "./deploy-view.ts";
import { formatClock, formatDuration, type TimeOptions } from "./format-time.ts";
import { hostDetail, hostState, renderByline, renderHeader } from "./render-deploy.ts";

// A rollout as plain lines, one per event, for logs, CI jobs and pipes: nothing
// is redrawn, every line stands alone with its time and host.

export interface PlainOptions extends TimeOptions {
  /** When an event carries no time of its own. */
  now: number;
}

/**
 * The lines one stream event adds. `view` is the state after the event (for a
 * host's batch, and the step a host line refers to).
 */
export function renderDeployEvent(view: DeployView, event: DeployStreamEvent, options: PlainOptions): string[] {
  const at = (iso: string | null | undefined) => formatClock(iso ?? new Date(options.now).toISOString(), options);
  switch (event.event) {
    case "snapshot": {
      const { deploy, hosts, batches } = event.data;
      const plan = hosts.length > 0 ? `, ${hosts.length} host${hosts.length === 1 ? "" : "s"} in ${batches.length} batch${batches.length === 1 ? "" : "es"}` : "";
      return [`${at(deploy.startedAt ?? deploy.createdAt)} ${renderHeader(deploy)}${plan} (${renderByline(deploy)})`];
    }
    case "deploy": {
      const deploy = event.data;
      const state = deploy.state === "queued" && deploy.position !== undefined ? `queued (position ${deploy.position})` : deploy.state;
      return [`${at(deploy.finishedAt ?? deploy.startedAt ?? deploy.createdAt)} deploy #${deploy.number} ${state}${deploy.message ? `: ${deploy.message}` : ""}`];
    }
    case "host": {
      const host = event.data;
      const state = hostState(view, host);
      if (state === "running") return [`${at(host.requestedAt)} ${host.host} batch ${host.batch} requested`];
      if (state === "pending") return [`${at(null)} ${host.host} batch ${host.batch} waiting for its batch`];
      return [`${at(host.finishedAt)} ${host.host} ${state} ${hostDetail(view, host, options.now)}`.trimEnd()];
    }
    case "step": {
      const step = event.data;
      const batch = view.hosts.find((h) => h.host === step.host)?.batch;
      const where = `${step.host}${batch === undefined ? "" : ` batch ${batch}`} ${step.step}`;
      if (step.state === "started" || step.state === "running") return [`${at(step.startedAt)} ${where} ${step.state}`];
      const took = step.durationMs === null ? "" : ` ${formatDuration(step.durationMs)}`;
      return [`${at(step.finishedAt ?? step.startedAt)} ${where} ${step.state}${took}`];
    }
    case "log":
      return event.data.lines.map((line) => `${at(line.time)} ${line.host} | ${line.text}`);
    case "end":
      return [];
    default: {
      const never: never = event;
      return never;
    }
  }
}
