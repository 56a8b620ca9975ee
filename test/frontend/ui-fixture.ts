import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { execa } from "execa";
import { type Browser, chromium, type Page } from "playwright-core";
import type { Deploy, Host } from "../../shared/api-types.ts";
import { spawnDaemon } from "../helpers/spawn-daemon.ts";
import { waitFor } from "../helpers/test-bus.ts";
import { upEnv } from "../helpers/up-env.ts";

// The web UI as an operator meets it: `deploykit up --example` as a child
// process (broker, conductor, the local agent "laptop"), a second agent
// "laptop-2" on the same bus, and a real headless Chromium clicking through
// the pages the conductor serves.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");
const chromiumPath = "/usr/bin/chromium";

export interface Up {
  home: string;
  dataDir: string;
  /** The environment `up` runs with (and the CLI, for commands against it). */
  env: Record<string, string>;
  /** http://127.0.0.1:PORT/ */
  webUi: string;
  /** http://127.0.0.1:PORT/api/v1 */
  api: string;
  /** The embedded broker's stomp://… URL. */
  stomp: string;
  adminToken: string;
  output(): string;
}

/** `deploykit up --example` on free ports, in a fresh data directory; SIGKILLed and removed when the test ends. */
export async function startUp(t: ExecutionContext): Promise<Up> {
  const home = mkdtempSync(join(tmpdir(), "dk-ui-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const dataDir = join(home, "data");
  const env = upEnv(home);
  const up = execa(bin, ["up", "--example", "--port", "0", "--api-port", "0", "--data-dir", dataDir], { env, extendEnv: false, reject: false, all: true, timeout: 300_000 });
  t.teardown(() => {
    up.kill("SIGKILL");
  });
  let output = "";
  up.all?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  let exited = false;
  void up.then(() => {
    exited = true;
  });
  await waitFor(() => output.includes("Stop with Ctrl-C.") || exited, 60_000, "deploykit up --example to start");
  if (!output.includes("Stop with Ctrl-C.")) throw new Error(`deploykit up exited before it was up:\n${output}`);
  const row = (pattern: RegExp, what: string): string => {
    const found = pattern.exec(output)?.[1];
    if (found === undefined) throw new Error(`deploykit up printed no ${what} row:\n${output}`);
    return found;
  };
  return {
    home,
    dataDir,
    env,
    webUi: row(/conductor web ui\s+(http:\/\/127\.0\.0\.1:\d+\/)\s/, "conductor web ui"),
    api: row(/conductor api\s+(http:\/\/127\.0\.0\.1:\d+\/api\/v1)\s/, "conductor api"),
    stomp: row(/broker stomp\s+(stomp:\/\/\S+)/, "broker stomp"),
    adminToken: readFileSync(join(dataDir, "admin.token"), "utf8").trim(),
    output: () => output,
  };
}

/**
 * `deploykit token create` while up runs, as an admin types it next to up's
 * data: the conductor takes the new token without a restart.
 */
export async function createToken(up: Up, name: string, role: "viewer" | "deployer" | "admin"): Promise<string> {
  const made = await execa(bin, ["token", "create", name, "--role", role], { env: { ...up.env, DEPLOYKIT_DATA_DIR: up.dataDir }, extendEnv: false, reject: false, timeout: 30_000 });
  if (made.exitCode !== 0) throw new Error(`deploykit token create ${name} failed (${made.exitCode}): ${made.stderr}`);
  return made.stdout.trim();
}

/** A call to the up's REST API with a token (the admin's unless told). */
export async function callApi<T>(up: Up, method: string, path: string, body?: unknown, token = up.adminToken): Promise<{ status: number; body: T }> {
  const response = await fetch(`${up.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** Waits until GET /hosts shows every one of these hosts alive. */
export async function waitForHosts(up: Up, names: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const { status, body } = await callApi<{ hosts?: Host[] }>(up, "GET", "/hosts");
    last = body;
    const hosts = body.hosts ?? [];
    if (status === 200 && names.every((name) => hosts.some((host) => host.host === name && host.alive))) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${names.join(", ")} to be alive; GET /hosts said ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Deploys through the API (for tests about what comes after) and waits for it to finish; returns the finished deploy. */
export async function deployByApi(up: Up, body: { app: string; environment: string; ref: string; hosts?: string[] }): Promise<Deploy> {
  const made = await callApi<{ deploy: Deploy }>(up, "POST", "/deploys", body);
  if (made.status !== 201) throw new Error(`POST /deploys answered ${made.status}: ${JSON.stringify(made.body)}`);
  const { id } = made.body.deploy;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body: snapshot } = await callApi<{ deploy: Deploy }>(up, "GET", `/deploys/${id}`);
    if (["succeeded", "failed", "cancelled", "interrupted"].includes(snapshot.deploy.state)) return snapshot.deploy;
    if (Date.now() > deadline) throw new Error(`deploy ${id} did not finish in 60 s: ${JSON.stringify(snapshot)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export interface SecondAgent {
  identity: string;
  /** Where its releases go: ROOT/hello/current is the live one. */
  root: string;
}

/**
 * `deploykit daemon deploy-agent` as another host on the up's bus: its own
 * apps.d (the example's hello.yaml with its own root), state and mirrors,
 * trusting the up's signing key.
 */
export function startSecondAgent(t: ExecutionContext, up: Up, identity = "laptop-2"): SecondAgent {
  const dir = mkdtempSync(join(tmpdir(), `dk-ui-${identity}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const appsDir = join(dir, "apps.d");
  const srv = join(dir, "srv");
  for (const path of [appsDir, srv]) mkdirSync(path, { recursive: true });
  const hello = readFileSync(join(up.dataDir, "apps.d", "hello.yaml"), "utf8");
  if (!/^root: .*$/m.test(hello)) throw new Error(`the example's agent app file has no root: line:\n${hello}`);
  writeFileSync(join(appsDir, "hello.yaml"), hello.replace(/^root: .*$/m, `root: ${srv}`));
  // An empty file: nothing from /etc/deploykit on this machine gets in.
  const configFile = join(dir, "deploykit.yaml");
  writeFileSync(configFile, "");
  // No DEPLOYKIT_BUS_PREFIX: `up` runs on the default one.
  spawnDaemon(t, "deploy-agent", {
    PATH: process.env.PATH,
    HOME: up.home,
    DEPLOYKIT_CONFIG: configFile,
    DEPLOYKIT_BUS_URL: up.stomp,
    DEPLOYKIT_LOG_LEVEL: "warn",
    DEPLOYKIT_DEPLOY_AGENT_IDENTITY: identity,
    DEPLOYKIT_DEPLOY_AGENT_APPS_DIR: appsDir,
    DEPLOYKIT_DEPLOY_AGENT_TRUSTED_KEYS: join(up.dataDir, "keys", "deploy-signing.pub"),
    DEPLOYKIT_DEPLOY_AGENT_STATE_DIR: join(dir, "state"),
    DEPLOYKIT_DEPLOY_AGENT_MIRROR_DIR: join(dir, "mirrors"),
    DEPLOYKIT_DEPLOY_AGENT_FACTS_FILE: "",
    DEPLOYKIT_DEPLOY_AGENT_FACTER: "false",
    DEPLOYKIT_DEPLOY_AGENT_CLASSES_FILE: "",
    DEPLOYKIT_DEPLOY_AGENT_MIN_FREE_MEGABYTES: "1",
    DEPLOYKIT_DEPLOY_AGENT_STEP_TIMEOUT: "30s",
  });
  return { identity, root: srv };
}

/** The live release's VERSION file under an agent's root, or undefined when nothing of the app is live there. */
export function liveVersion(srvRoot: string, app = "hello"): string | undefined {
  const file = join(srvRoot, app, "current", "VERSION");
  return existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
}

let screenshots: string | undefined;

/** $DEPLOYKIT_SCREENSHOTS, else one fresh directory for this run; kept after the tests for a person to look at. */
export function screenshotDir(): string {
  if (screenshots === undefined) {
    const wanted = process.env.DEPLOYKIT_SCREENSHOTS;
    if (wanted) mkdirSync(wanted, { recursive: true });
    screenshots = wanted || mkdtempSync(join(tmpdir(), "dk-ui-screens-"));
  }
  return screenshots;
}

export interface Browsing {
  browser: Browser;
  /** Console errors and uncaught exceptions of every page opened here; a test ends asserting it is empty. */
  errors: string[];
  /** A page, signed in with `token` when one is given (pre-seeded in sessionStorage, as the contract allows). */
  newPage(options?: { token?: string; width?: number; height?: number }): Promise<Page>;
  /** The console line Chromium logs for an HTTP error the test provokes on purpose (a wrong token, a refusal) is not an error of the UI. */
  expectHttpError(status: number, path: string): void;
  screenshot(page: Page, name: string): Promise<string>;
}

/** Headless Chromium, closed when the test ends. */
export async function openBrowser(t: ExecutionContext): Promise<Browsing> {
  if (!existsSync(chromiumPath)) throw new Error(`${chromiumPath} does not exist: the web UI tests need Chromium; install it with apt-get install chromium`);
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  t.teardown(() => browser.close());
  const errors: string[] = [];
  const expected: { status: number; path: string }[] = [];
  const provoked = (text: string, url: string) =>
    /^Failed to load resource: the server responded with a status of \d+/.test(text) && expected.some(({ status, path }) => text.includes(`status of ${status} `) && new URL(url).pathname.endsWith(path));
  return {
    browser,
    errors,
    async newPage({ token, width = 1280, height = 900 } = {}) {
      const context = await browser.newContext({ viewport: { width, height } });
      const page = await context.newPage();
      page.on("console", (message) => {
        if (message.type() !== "error") return;
        const url = message.location().url;
        if (!provoked(message.text(), url)) errors.push(`console error on ${page.url()}: ${message.text()} (${url})`);
      });
      page.on("pageerror", (err) => errors.push(`uncaught on ${page.url()}: ${err.stack ?? err.message}`));
      if (token !== undefined) await page.addInitScript((value) => sessionStorage.setItem("deploykit.token", value), token);
      return page;
    },
    expectHttpError(status, path) {
      expected.push({ status, path });
    },
    async screenshot(page, name) {
      const path = join(screenshotDir(), name);
      await page.screenshot({ path, fullPage: true });
      t.log(`screenshot ${path}`);
      return path;
    },
  };
}
