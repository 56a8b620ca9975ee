// One timed load of an overview page in Chromium: a fresh browser context
// (empty cache, new connections), the token in sessionStorage before any of
// the page's own code runs, navigation to the page, and the moment the page
// has every host row with its main#main no longer busy, read in the page as
// performance.now() (ms since the navigation started), then the end of the
// frame that paints it. A MutationObserver, installed before the document
// exists, checks after every change to the DOM, so the moment is not rounded
// to a polling interval. Then, if asked, a reload in the same context: the
// warm load, with the browser's cache.
import type { Browser, Page } from "playwright-core";

export interface PageTiming {
  /** Navigation start → every row present and main#main aria-busy="false". */
  readyMs: number;
  /**
   * Navigation start → the next frame laid out and painted. A script-built page lays out its rows
   * only after they are all in; the browser lays out a parsed page as it goes: this is what both have
   * actually shown.
   */
  paintedMs: number;
  /**
   * Navigation start → when each part had arrived: document, js, css, whoami, apps (the first of each the
   * page loaded), when the page asked for them (whoamiSent, appsSent…), and parsed (the document's domInteractive).
   */
  marks: Record<string, number>;
}

export interface LoadTiming {
  cold: PageTiming;
  warm?: PageTiming;
}

export interface TimeOptions {
  /** What the page is, for messages. */
  label: string;
  url: string;
  /** Put in sessionStorage["deploykit.token"] before the page loads. */
  token?: string;
  rows: number;
  /** Checked once the rows are in: both pages must show the same thing. */
  differs: number;
  sections: number;
  timeoutMs: number;
  warm: boolean;
}

// Runs in the page, at document creation, before any script of the page's own.
function initScript(token: string | undefined, rows: number): string {
  return `(() => {
  const token = ${JSON.stringify(token ?? null)};
  if (token !== null) sessionStorage.setItem("deploykit.token", token);
  const state = {};
  let resolve;
  state.done = new Promise((r) => { resolve = r; });
  window.__dkBench = state;
  const check = () => {
    const main = document.querySelector("main#main");
    if (main === null || main.getAttribute("aria-busy") !== "false") return;
    if (document.querySelectorAll("tr[data-host]").length < ${rows}) return;
    const readyMs = performance.now();
    observer.disconnect();
    // The frame after: its callbacks run, then style, layout and paint; a task posted from it runs once that is done.
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve({ readyMs, paintedMs: performance.now() });
      channel.port2.postMessage(null);
    });
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ["aria-busy"] });
})();`;
}

// Evaluated in the page once it is ready (or has timed out).
const marksScript = `(() => {
  const marks = {};
  const nav = performance.getEntriesByType("navigation")[0];
  if (nav) {
    marks.document = nav.responseEnd;
    marks.parsed = nav.domInteractive;
  }
  for (const entry of performance.getEntriesByType("resource")) {
    const path = new URL(entry.name).pathname;
    const part = path.endsWith(".js") ? "js" : path.endsWith(".css") ? "css" : path.endsWith("/api/v1/whoami") ? "whoami" : path.endsWith("/api/v1/apps") ? "apps" : undefined;
    if (part === undefined || marks[part] !== undefined) continue;
    marks[part] = entry.responseEnd;
    marks[part + "Sent"] = entry.startTime;
  }
  return marks;
})()`;

const seenScript = `(() => {
  const main = document.querySelector("main#main");
  return {
    rows: document.querySelectorAll("tr[data-host]").length,
    differs: document.querySelectorAll("tr[data-host].differs").length,
    sections: document.querySelectorAll("section[data-app][data-environment]").length,
    busy: main === null ? null : main.getAttribute("aria-busy"),
    h1: document.querySelector("h1")?.textContent ?? null,
    alert: document.querySelector("[role=alert]")?.textContent ?? null,
  };
})()`;

interface Seen {
  rows: number;
  differs: number;
  sections: number;
  busy: string | null;
  h1: string | null;
  alert: string | null;
}

export async function timeLoad(browser: Browser, options: TimeOptions): Promise<LoadTiming> {
  const context = await browser.newContext();
  try {
    await context.addInitScript({ content: initScript(options.token, options.rows) });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (err) => errors.push(err.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    const cold = await timed(page, options, errors, () => page.goto(options.url, { waitUntil: "load", timeout: options.timeoutMs }));
    if (!options.warm) return { cold };
    const warm = await timed(page, options, errors, () => page.reload({ waitUntil: "load", timeout: options.timeoutMs }));
    return { cold, warm };
  } finally {
    await context.close();
  }
}

async function timed(page: Page, options: TimeOptions, errors: string[], navigate: () => Promise<unknown>): Promise<PageTiming> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), options.timeoutMs);
  });
  try {
    const ready = (async () => {
      await navigate();
      return (await page.evaluate("window.__dkBench.done")) as { readyMs: number; paintedMs: number };
    })().catch((err: Error) => ({ err }));
    const outcome = await Promise.race([ready, timeout]);
    if (outcome === "timeout" || "err" in outcome) {
      const cause = outcome === "timeout" ? undefined : (outcome.err.message.split("\n")[0] ?? "");
      throw new Error(await failureMessage(page, options, errors, Date.now() - started, cause));
    }
    const { readyMs, paintedMs } = outcome;
    const seen = (await page.evaluate(seenScript)) as Seen;
    if (seen.rows !== options.rows || seen.differs !== options.differs || seen.sections !== options.sections) {
      throw new Error(
        `${options.label} at ${options.url} shows ${seen.rows} tr[data-host] rows, ${seen.differs} of them .differs, in ${seen.sections} sections; expected ${options.rows}, ${options.differs} and ${options.sections}`,
      );
    }
    return { readyMs, paintedMs, marks: (await page.evaluate(marksScript)) as Record<string, number> };
  } finally {
    clearTimeout(timer);
  }
}

/** What the page showed when it gave up: enough to tell a missing page from a slow one or an error. */
async function failureMessage(page: Page, options: TimeOptions, errors: string[], waitedMs: number, cause: string | undefined): Promise<string> {
  const seen = (await page.evaluate(seenScript).catch(() => undefined)) as Seen | undefined;
  const state =
    seen === undefined
      ? "the page could not be read"
      : `the page has ${seen.rows} rows, ${seen.busy === null ? "no main#main" : `main#main aria-busy="${seen.busy}"`}, h1 ${JSON.stringify(seen.h1)}` +
        (seen.alert ? `, alert ${JSON.stringify(seen.alert.slice(0, 200))}` : "");
  const what = `${options.rows} tr[data-host] rows and main#main aria-busy="false" at ${options.url}`;
  const head =
    cause === undefined
      ? `${options.label}: timed out after ${(waitedMs / 1000).toFixed(1)} s waiting for ${what}`
      : `${options.label}: failed after ${(waitedMs / 1000).toFixed(1)} s (of ${options.timeoutMs / 1000} s) waiting for ${what}: ${cause}`;
  return `${head}; ${state}${errors.length > 0 ? `; page errors: ${errors.slice(0, 3).join(" | ")}` : ""}`;
}
