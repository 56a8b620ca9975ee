import type { BuildRecord } from "./ledger/ledger.ts";

export type BuildStatus = "passed" | "failed" | "running" | "unknown";

export interface GateVerdict {
  status: BuildStatus;
  /** Each required job (or, with no gate, each job seen) and where it stands. */
  jobs: { job: string; phase: BuildRecord["phase"] | "missing"; number: number | null; url: string | null }[];
}

/**
 * Whether a sha may be deployed, from the builds seen for it: with a gate,
 * every required job's latest build must have succeeded; without one, the
 * status only informs (passed when every job seen succeeded).
 */
export function deployGate(builds: readonly BuildRecord[], requiredJobs: readonly string[] | undefined): GateVerdict {
  const latest = new Map(builds.map((build) => [build.job, build]));
  const names = requiredJobs && requiredJobs.length > 0 ? requiredJobs : [...latest.keys()].sort();
  const jobs = names.map((job) => {
    const build = latest.get(job);
    return { job, phase: build?.phase ?? ("missing" as const), number: build?.number ?? null, url: build?.url ?? null };
  });
  return { status: statusOf(jobs.map((job) => job.phase)), jobs };
}

function statusOf(phases: readonly (BuildRecord["phase"] | "missing")[]): BuildStatus {
  if (phases.length === 0) return "unknown";
  if (phases.some((phase) => phase === "failed" || phase === "aborted")) return "failed";
  if (phases.some((phase) => phase === "queued" || phase === "started")) return "running";
  if (phases.some((phase) => phase === "missing")) return "unknown";
  return "passed";
}

/** "shop-tests failed (#12), shop-lint missing" for a refusal. */
export function describeGate(verdict: GateVerdict): string {
  return verdict.jobs.map((job) => `${job.job} ${job.phase === "missing" ? "has no build for this sha" : job.phase}${job.number === null ? "" : ` (#${job.number})`}`).join(", ");
}
