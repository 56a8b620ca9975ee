import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { runGit } from "../shared/run-git.ts";
import { startPipeline } from "../test/helpers/pipeline.ts";
import { uniquePrefix, waitFor } from "../test/helpers/test-bus.ts";
import { spawnEmbeddedBroker } from "./spawn-embedded-broker.ts";

// bench/pipeline: from `git push` returning to every repo-fetcher having
// published repos.fetched.v1 for the pushed commit, beside a bare `git fetch`
// of the same change done directly. The chain is the real one (post-receive
// hook → git.commits → bus-to-jenkins → stand-in Jenkins → jenkins-status →
// builds → N repo-fetchers → git fetch → repos.fetched), on the embedded
// broker in a process of its own, the daemons in this process as
// `deploykit up` runs them, each with its own bus connection.

const { values: args } = parseArgs({
  options: {
    pushes: { type: "string", default: "50" },
    fetchers: { type: "string", default: "20" },
    bus: { type: "string" },
  },
});
const pushes = Number(args.pushes);
const fetchers = Number(args.fetchers);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

function summary(samples: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) as number };
}

const broker = args.bus ? undefined : await spawnEmbeddedBroker();
const busUrl = args.bus ?? (broker?.url.href as string);
const pipeline = await startPipeline({ busUrl, prefix: uniquePrefix(), fetchers });
const baselineDir = mkdtempSync(join(tmpdir(), "dk-bench-bare-"));
const baseline = join(baselineDir, "baseline.git");
try {
  // Warm-up: the first push clones every mirror; the baseline mirror is cloned the same way.
  const first = await pipeline.push("warm-up");
  await waitFor(() => pipeline.seen.fetched.filter((m) => m.body.sha === first).length >= fetchers, 60_000, "the warm-up fetches");
  await runGit(["clone", "-q", "--mirror", "--end-of-options", pipeline.bare, baseline]);
  // The same fetches without deploykit: one mirror per fetcher, all fetching at once, as the fetchers do here.
  const baselines = Array.from({ length: fetchers }, (_, i) => join(baselineDir, `parallel-${i}.git`));
  for (const dir of baselines) await runGit(["clone", "-q", "--mirror", "--end-of-options", pipeline.bare, dir]);

  const pushMs: number[] = [];
  const pipelineMs: number[] = [];
  const bareMs: number[] = [];
  const parallelMs: number[] = [];
  // Where the time goes: each stage's message time (its publisher's clock, this machine) after the push returned.
  const stages = { "build queued": [] as number[], "build succeeded": [] as number[], "first fetch reported": [] as number[], "last fetch reported": [] as number[] };
  for (let i = 0; i < pushes; i++) {
    const pushStart = performance.now();
    const sha = await pipeline.push(`change ${i}`);
    const returned = performance.now();
    const returnedAt = Date.now();
    pushMs.push(returned - pushStart);
    await waitFor(() => pipeline.seen.fetched.filter((m) => m.body.sha === sha).length >= fetchers, 30_000, `push ${i} to reach ${fetchers} fetchers`);
    pipelineMs.push(performance.now() - returned);
    const at = (time: string | undefined) => (time ? Date.parse(time) - returnedAt : Number.NaN);
    const builds = pipeline.seen.builds.filter((m) => m.body.sha === sha);
    stages["build queued"].push(at(builds.find((m) => m.body.phase === "queued")?.time));
    stages["build succeeded"].push(at(builds.find((m) => m.body.phase === "succeeded")?.time));
    const fetchedTimes = pipeline.seen.fetched.filter((m) => m.body.sha === sha).map((m) => Date.parse(m.time) - returnedAt);
    stages["first fetch reported"].push(Math.min(...fetchedTimes));
    stages["last fetch reported"].push(Math.max(...fetchedTimes));
    const errors = pipeline.seen.fetched.filter((m) => m.body.sha === sha && m.body.error);
    if (errors.length > 0) throw new Error(`push ${i}: ${errors.length} fetchers reported an error: ${errors[0]?.body.error}`);
    const fetchStart = performance.now();
    await runGit(["fetch", "-q", "--prune", "--tags", "origin"], { cwd: baseline });
    bareMs.push(performance.now() - fetchStart);
    const parallelStart = performance.now();
    await Promise.all(baselines.map((dir) => runGit(["fetch", "-q", "--prune", "--tags", "origin"], { cwd: dir })));
    parallelMs.push(performance.now() - parallelStart);
  }

  const p = summary(pipelineMs);
  const b = summary(bareMs);
  const h = summary(pushMs);
  const fmt = (n: number) => n.toFixed(1).padStart(8);
  console.log(
    `${pushes} pushes, ${fetchers} repo-fetchers, bus ${broker ? `embedded broker (pid ${broker.pid})` : busUrl}; ${cpus().length} CPUs, Node ${process.version}`,
  );
  console.log("                                         p50 ms   p99 ms   max ms");
  console.log(`git push (includes the post-receive hook) ${fmt(h.p50)} ${fmt(h.p99)} ${fmt(h.max)}`);
  console.log(`push returned → all fetchers fetched     ${fmt(p.p50)} ${fmt(p.p99)} ${fmt(p.max)}`);
  console.log(`bare git fetch of the same change        ${fmt(b.p50)} ${fmt(b.p99)} ${fmt(b.max)}`);
  const par = summary(parallelMs);
  console.log(`${fetchers} bare git fetches at once (same work) ${fmt(par.p50)} ${fmt(par.p99)} ${fmt(par.max)}`);
  for (const [stage, samples] of Object.entries(stages)) {
    const s = summary(samples.filter((n) => !Number.isNaN(n)));
    console.log(`  of which: ${stage.padEnd(29)} ${fmt(s.p50)} ${fmt(s.p99)} ${fmt(s.max)}`);
  }
  const added50 = p.p50 - b.p50;
  const added99 = p.p99 - b.p99;
  console.log(`added by deploykit (pipeline − bare)     ${fmt(added50)} ${fmt(added99)}`);
  console.log(`ratio pipeline / bare fetch: p50 ${(p.p50 / b.p50).toFixed(2)}, p99 ${(p.p99 / b.p99).toFixed(2)}`);
  console.log(`ratio added / bare fetch:    p50 ${(added50 / b.p50).toFixed(2)}, p99 ${(added99 / b.p99).toFixed(2)}`);
  const addedPar50 = p.p50 - par.p50;
  const addedPar99 = p.p99 - par.p99;
  console.log(`against ${fetchers} bare fetches at once: added p50 ${addedPar50.toFixed(1)} ms (${(addedPar50 / par.p50).toFixed(2)}×), p99 ${addedPar99.toFixed(1)} ms (${(addedPar99 / par.p99).toFixed(2)}×)`);
  console.log(
    `goal: p99 under 1000 ms: ${p.p99 < 1000 ? "met" : "MISSED"}; added latency under 3× the bare fetch (p50): ${added50 < 3 * b.p50 ? "met" : "MISSED"}, (p99): ${added99 < 3 * b.p99 ? "met" : "MISSED"}`,
  );
} finally {
  await pipeline.stop();
  rmSync(baselineDir, { recursive: true, force: true });
  await broker?.stop();
}
