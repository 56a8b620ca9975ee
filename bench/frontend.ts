// bench/frontend: what the web UI costs a browser. First the JavaScript and
// CSS it ships (every file of dist/ui, raw and gzipped); then the time from
// navigation to a rendered overview of 50 apps and 500 hosts, in Chromium
// on loopback, against the conductor in this process with a seeded ledger,
// beside the same overview as one static server-rendered HTML page with no
// JavaScript at all (the floor), in the same run. It prints the sizes, the
// times of every run, medians and p90s, the deploykit/static ratio, and the
// goals (under 100 KB of gzipped JavaScript; the overview in under 1 s),
// met or missed; it exits 0 either way. docs/benchmarks.md explains the
// method and holds measured figures.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { type Browser, chromium } from "playwright-core";
import { builtUiDir } from "../daemons/conductor/api/ui-routes.ts";
import type { App, WhoAmI } from "../shared/api-types.ts";
import { assetSizes, gzipLevel } from "./frontend/asset-sizes.ts";
import { printAssetSizes, printFrontendReport, type RunRecord, type SideName } from "./frontend/print-frontend-report.ts";
import { appName, seedFleet } from "./frontend/seed-fleet.ts";
import { startBenchConductor } from "./frontend/start-bench-conductor.ts";
import { serveStatic, staticOverviewHtml } from "./frontend/static-overview.ts";
import { type LoadTiming, type PageTiming, timeLoad } from "./frontend/time-page.ts";

const usage = "usage: node dist/bench/frontend.js [--runs 15] [--timeout 20] [--cold-only] [--keep]";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "15" },
    timeout: { type: "string", default: "20" },
    "cold-only": { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
  },
});
const runs = Number(args.runs);
const timeoutMs = Number(args.timeout) * 1000;
const warm = !args["cold-only"];
if (!Number.isInteger(runs) || runs < 1 || !(timeoutMs > 0)) throw new Error(usage);

const chromiumPath = "/usr/bin/chromium";
const chromiumArgs = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function get<T>(api: string, token: string, path: string): Promise<{ body: T; bytes: number }> {
  const response = await fetch(`${api}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return { body: JSON.parse(text) as T, bytes: Buffer.byteLength(text) };
}

async function main(): Promise<void> {
  // Before anything starts: without a built UI there is nothing to measure.
  const assets = assetSizes(builtUiDir);
  printAssetSizes(assets);
  const load = loadavg()[0]?.toFixed(2);
  const base = mkdtempSync(join(tmpdir(), "dk-bench-frontend-"));
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const seed = await seedFleet(base);
    const conductor = await startBenchConductor(seed);
    cleanups.push(() => conductor.stop());

    // The conductor makes its mirrors in the background; the runs must not share the CPU with 50 clones.
    for (let i = 0; i < seed.shape.apps; i++) {
      const app = appName(i);
      const { body } = await get<{ refs: { name: string }[] }>(conductor.api, seed.token, `/apps/${app}/refs`);
      if (!body.refs.some((ref) => ref.name === "v1.0.0")) throw new Error(`the conductor lists no v1.0.0 for ${app}: ${JSON.stringify(body.refs)}`);
    }
    const { body: who } = await get<WhoAmI>(conductor.api, seed.token, "/whoami");
    const { body: listed, bytes: appsJsonBytes } = await get<{ apps: App[] }>(conductor.api, seed.token, "/apps");
    const rows = listed.apps.reduce((sum, app) => sum + app.environments.reduce((n, environment) => n + environment.hosts.length, 0), 0);
    if (rows !== seed.hosts) throw new Error(`GET /api/v1/apps lists ${rows} hosts in environments, the ledger was seeded with ${seed.hosts}`);

    const css = assets.files.filter((file) => file.kind === "css").map((file) => readFileSync(join(assets.dir, file.file), "utf8"));
    const html = staticOverviewHtml(listed.apps, who, css.join("\n"));
    const staticServer = await serveStatic(html);
    cleanups.push(() => staticServer.close());

    const browser: Browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
    cleanups.push(() => browser.close());

    const sides: Record<SideName, { label: string; url: string; token?: string }> = {
      deploykit: { label: "deploykit web UI", url: `${conductor.ui}#/`, token: seed.token },
      static: { label: "static HTML page", url: `${staticServer.url}#/` },
    };
    const records: RunRecord[] = [];
    for (let run = 0; run <= runs; run++) {
      const order: SideName[] = run % 2 === 0 ? ["deploykit", "static"] : ["static", "deploykit"];
      const timings = {} as Record<SideName, LoadTiming>;
      const runLoad = loadavg()[0] ?? 0;
      for (const side of order) timings[side] = await timeLoad(browser, { ...sides[side], rows, differs: seed.differing, sections: seed.environments, timeoutMs, warm });
      records.push({ run, load: runLoad, deploykit: timings.deploykit, static: timings.static });
      const label = run === 0 ? "warm-up" : `run ${run}`;
      const both = (timing: PageTiming | undefined) => (timing === undefined ? "n/a" : `${timing.readyMs.toFixed(0)}/${timing.paintedMs.toFixed(0)} ms`);
      const warmText = warm ? `; reload ${both(timings.deploykit.warm)}, ${both(timings.static.warm)}` : "";
      console.log(`${label.padEnd(8)} deploykit ${both(timings.deploykit.cold)}, static ${both(timings.static.cold)}${warmText} (rows in/painted)`);
    }

    const cpu = cpus();
    printFrontendReport({
      assets,
      records,
      warm,
      apps: seed.shape.apps,
      environments: seed.environments,
      rows,
      differing: seed.differing,
      locked: seed.locked,
      appsJsonBytes,
      staticBytes: staticServer.bytes,
      staticGzipBytes: gzipSync(html, { level: gzipLevel }).byteLength,
      timeoutMs,
      machine: `${cpu.length} × ${cpu[0]?.model ?? "CPU"}, Node ${process.version}; load average ${load} at start`,
      chromium: `Chromium ${browser.version()} (${chromiumPath}, headless)`,
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
