// What bench/frontend prints once every run is done: the files the browser
// is sent, one line per run, then medians and p90s of both sides, the
// deploykit/static ratio, where deploykit's cold load spends its time, and
// the goals, met or missed.
import { type AssetReport, gzipLevel } from "./asset-sizes.ts";
import type { LoadTiming, PageTiming } from "./time-page.ts";

export type SideName = "deploykit" | "static";

export interface RunRecord {
  /** 0 is the warm-up. */
  run: number;
  /** The 1-minute load average before the run: other work on the machine shows here. */
  load: number;
  deploykit: LoadTiming;
  static: LoadTiming;
}

export interface FrontendReportInput {
  assets: AssetReport;
  records: RunRecord[];
  warm: boolean;
  apps: number;
  environments: number;
  rows: number;
  differing: number;
  locked: number;
  /** GET /api/v1/apps as the UI receives it, and the static document. */
  appsJsonBytes: number;
  staticBytes: number;
  staticGzipBytes: number;
  timeoutMs: number;
  machine: string;
  chromium: string;
}

export const jsGoalBytes = 102_400;
export const loadGoalMs = 1_000;

/** The median; the mean of the middle two for an even count. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest rank: the smallest value with at least 90% of the values at or below it. */
export function p90(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.ceil(0.9 * sorted.length) - 1] as number);
}

const ms = (value: number, width = 9) => (Number.isNaN(value) ? "n/a" : value.toFixed(0)).padStart(width);
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
const int = (value: number, width: number) => String(value).padStart(width);

/** Printed first: the sizes stand on their own, even when the timed loads then fail. */
export function printAssetSizes(assets: AssetReport): void {
  console.log(`the web UI as built in ${assets.dir} (${assets.builtAt.toISOString()}), gzip level ${gzipLevel} (node:zlib gzipSync)`);
  const width = Math.max(28, ...assets.files.map((file) => file.file.length));
  console.log(`${"file".padEnd(width)} ${"bytes".padStart(9)} ${"gzip".padStart(9)}`);
  for (const file of assets.files) console.log(`${file.file.padEnd(width)} ${int(file.bytes, 9)} ${int(file.gzipBytes, 9)}`);
  for (const [kind, label] of [
    ["js", "JavaScript"],
    ["css", "CSS"],
  ] as const) {
    const total = assets.totals[kind];
    console.log(`${`${label}, ${total.files} ${total.files === 1 ? "file" : "files"}`.padEnd(width)} ${int(total.bytes, 9)} ${int(total.gzipBytes, 9)}`);
  }
  console.log(jsGoalLine(assets));
}

function jsGoalLine(assets: AssetReport): string {
  const jsGzip = assets.totals.js.gzipBytes;
  return `goal: under ${kb(jsGoalBytes)} (${jsGoalBytes} bytes) of gzipped JavaScript: ${jsGzip < jsGoalBytes ? "met" : "MISSED"} (${jsGzip} bytes, ${((100 * jsGzip) / jsGoalBytes).toFixed(0)}% of it; ${assets.totals.css.gzipBytes} bytes of gzipped CSS besides)`;
}

export function printFrontendReport(input: FrontendReportInput): void {
  const { assets, records } = input;
  console.log(`\nmachine: ${input.machine}; ${input.chromium}`);

  const measured = records.filter((record) => record.run > 0);
  console.log(
    `\nthe overview: ${input.apps} apps × 2 environments = ${input.environments} sections, ${input.rows} host rows (${input.differing} "differs", ${input.locked} environments locked); ` +
      `GET /api/v1/apps ${kb(input.appsJsonBytes)}; the static page ${kb(input.staticBytes)} (${kb(input.staticGzipBytes)} gzipped, the UI's CSS inline)`,
  );
  console.log(
    `each load: a new browser context (empty cache), the admin token in sessionStorage, goto ${"#/"}, until ${input.rows} tr[data-host] and main#main aria-busy="false"; ` +
      `performance.now() in the page at that moment and once the next frame is painted; ${measured.length} runs after a warm-up, the sides take turns going first; limit ${input.timeoutMs / 1000} s per load`,
  );
  // Each cell: rows in the DOM / that frame painted.
  const pair = (timing: PageTiming | undefined) => (timing === undefined ? "n/a" : `${ms(timing.readyMs, 5)} /${ms(timing.paintedMs, 5)}`).padStart(13);
  const header = ["run".padEnd(8), "load".padStart(5), "deploykit".padStart(13), "static".padStart(13), "dk/static".padStart(10)];
  if (input.warm) header.push("dk reload".padStart(13), "static reload".padStart(13));
  console.log(`\nms since navigation start: every row in the DOM / the frame that shows them painted`);
  console.log(header.join(" "));
  for (const record of records) {
    const cells = [
      (record.run === 0 ? "warm-up" : `run ${record.run}`).padEnd(8),
      record.load.toFixed(1).padStart(5),
      pair(record.deploykit.cold),
      pair(record.static.cold),
      `${(record.deploykit.cold.readyMs / record.static.cold.readyMs).toFixed(1)} /${(record.deploykit.cold.paintedMs / record.static.cold.paintedMs).toFixed(1).padStart(4)}`.padStart(10),
    ];
    if (input.warm) cells.push(pair(record.deploykit.warm), pair(record.static.warm));
    console.log(cells.join(" "));
  }

  const series = (side: SideName, load: "cold" | "warm", measure: "readyMs" | "paintedMs") =>
    measured.map((record) => record[side][load]?.[measure] ?? Number.NaN).filter((value) => !Number.isNaN(value));
  const dkCold = series("deploykit", "cold", "readyMs");
  const staticCold = series("static", "cold", "readyMs");
  const dkPainted = series("deploykit", "cold", "paintedMs");

  // Where a cold deploykit load spends its time: when each part arrived, medians over the runs.
  const markOf = (side: SideName, mark: string) => median(measured.map((record) => record[side].cold.marks[mark]).filter((value): value is number => value !== undefined));
  const parts: [string, string][] = [
    ["document", "index.html in"],
    ["js", "the JavaScript in"],
    ["css", "the CSS in"],
    ["whoamiSent", "GET /api/v1/whoami sent"],
    ["whoami", "GET /api/v1/whoami answered"],
    ["appsSent", "GET /api/v1/apps sent"],
    ["apps", "GET /api/v1/apps answered"],
  ];
  console.log("\ndeploykit, cold: ms since navigation start, medians over the runs");
  for (const [mark, label] of parts) {
    const value = markOf("deploykit", mark);
    if (!Number.isNaN(value)) console.log(`  ${label.padEnd(40)}${ms(value, 6)}`);
  }
  console.log(`  ${"every row in, main#main not busy".padEnd(40)}${ms(median(dkCold), 6)}`);
  console.log(`  ${"that frame painted".padEnd(40)}${ms(median(dkPainted), 6)}`);
  console.log(
    `static HTML, cold: the document in at ${ms(markOf("static", "document"), 0)} ms, parsed (domInteractive) at ${ms(markOf("static", "parsed"), 0)} ms, every row there at ${ms(median(staticCold), 0)} ms, painted at ${ms(median(series("static", "cold", "paintedMs")), 0)} ms (medians)`,
  );

  const loads: ["cold" | "warm", string][] = input.warm ? [["cold", "cold cache"], ["warm", "reload (warm cache)"]] : [["cold", "cold cache"]];
  console.log(`\n${"navigation → overview, ms".padEnd(48)} ${"rows in the DOM".padStart(17)} ${"painted".padStart(17)}`);
  console.log(`${"".padEnd(48)} ${"median".padStart(8)} ${"p90".padStart(8)} ${"median".padStart(8)} ${"p90".padStart(8)}`);
  for (const [load, label] of loads) {
    const stats = (side: SideName) => [median, p90].flatMap((f) => [f(series(side, load, "readyMs")), f(series(side, load, "paintedMs"))]);
    const [dkMid, dkMidPainted, dkHigh, dkHighPainted] = stats("deploykit") as [number, number, number, number];
    const [stMid, stMidPainted, stHigh, stHighPainted] = stats("static") as [number, number, number, number];
    console.log(`${`deploykit web UI, ${label}`.padEnd(48)} ${ms(dkMid, 8)} ${ms(dkHigh, 8)} ${ms(dkMidPainted, 8)} ${ms(dkHighPainted, 8)}`);
    console.log(`${`static HTML, no JavaScript, ${label}`.padEnd(48)} ${ms(stMid, 8)} ${ms(stHigh, 8)} ${ms(stMidPainted, 8)} ${ms(stHighPainted, 8)}`);
    const times = (a: number, b: number) => `${(a / b).toFixed(1)}×`.padStart(8);
    console.log(`${`deploykit / static, ${load === "cold" ? "cold" : "reload"}`.padEnd(48)} ${times(dkMid, stMid)} ${times(dkHigh, stHigh)} ${times(dkMidPainted, stMidPainted)} ${times(dkHighPainted, stHighPainted)}`);
  }
  const loadMet = p90(dkPainted) < loadGoalMs;
  console.log(`\n${jsGoalLine(assets)}`);
  console.log(
    `goal: the overview with ${input.rows} hosts painted in under ${loadGoalMs / 1000} s (cold cache, p90 of ${dkPainted.length} runs): ${loadMet ? "met" : "MISSED"} ` +
      `(p90 ${ms(p90(dkPainted), 0)} ms painted, ${ms(p90(dkCold), 0)} ms with every row in the DOM; medians ${ms(median(dkPainted), 0)} and ${ms(median(dkCold), 0)} ms)`,
  );
}
