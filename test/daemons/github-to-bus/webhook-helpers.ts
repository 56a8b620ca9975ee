import { readFileSync } from "node:fs";
import type { ExecutionContext } from "ava";
import type { Logger } from "pino";
import type { Bus } from "../../../shared/bus/bus.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import type { GithubToBusConfig } from "../../../daemons/github-to-bus/config.ts";
import { githubToBus } from "../../../daemons/github-to-bus/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { testBus, uniquePrefix } from "../../helpers/test-bus.ts";

const root = new URL("../../../../", import.meta.url);

/** The secret every saved delivery is signed with (test/fixtures/webhooks/README.md). */
export const fixtureSecret = "It's a Secret to Everybody";

export interface Delivery {
  body: Buffer;
  headers: Record<string, string>;
}

/** A saved delivery: its exact body bytes and the headers it came with. */
export function fixture(provider: string, name: string): Delivery {
  const dir = new URL(`test/fixtures/webhooks/${provider}/`, root);
  const headers = JSON.parse(readFileSync(new URL(`${name}.headers.json`, dir), "utf8")) as Record<string, string>;
  // fetch computes Content-Length from the body it sends.
  delete headers["Content-Length"];
  return { body: readFileSync(new URL(`${name}.json`, dir)), headers };
}

export type Commits = Envelope<BodyOf<"git.commits">>;

export function baseConfig(overrides: Partial<GithubToBusConfig> = {}): GithubToBusConfig {
  return {
    host: "127.0.0.1",
    port: 0,
    githubSecret: fixtureSecret,
    gitlabToken: fixtureSecret,
    giteaSecret: fixtureSecret,
    genericToken: "generic-token",
    repoSecrets: [],
    repos: [],
    maxBodySize: 1024 * 1024,
    maxCommits: 100,
    publishTimeout: 2_000,
    retryAfter: 30_000,
    dedupEntries: 1000,
    dedupTtl: 3_600_000,
    ...overrides,
  };
}

export interface Running {
  url: string;
  bus: Bus;
  /** Every git.commits message a separate subscriber received. */
  published: Commits[];
  log: Logger;
  lines: Record<string, unknown>[];
}

/** The daemon on a free port over `bus`, stopped with the test (the bus is the caller's). */
export async function startOn(t: ExecutionContext, bus: Bus, overrides: Partial<GithubToBusConfig> = {}): Promise<{ url: string; log: Logger; lines: Record<string, unknown>[] }> {
  const { log, lines } = captureLog();
  let url = "";
  const stop = await githubToBus.start({
    config: baseConfig(overrides),
    bus,
    log,
    signal: new AbortController().signal,
    host: "test-host",
    announce: (what, where) => {
      if (what === "http") url = where;
    },
  });
  t.teardown(() => stop());
  return { url, log, lines };
}

/**
 * The daemon with an in-memory bus (or the one `bus` makes for that bus's
 * URL), and a subscriber watching git.commits; all stopped with the test.
 */
export async function startWebhooks(t: ExecutionContext, overrides: Partial<GithubToBusConfig> = {}, bus?: (memoryUrl: string) => Bus): Promise<Running> {
  const memory = `memory://${uniquePrefix()}`;
  const daemonBus = bus ? bus(memory) : testBus(memory, "dk");
  const watcher = testBus(memory, "dk");
  t.teardown(() => Promise.all([daemonBus.close({ graceMs: 0 }), watcher.close({ graceMs: 0 })]).then(() => undefined));
  const published: Commits[] = [];
  await watcher.subscribe("git.commits", (message) => void published.push(message));
  const daemon = await startOn(t, daemonBus, overrides);
  return { ...daemon, bus: daemonBus, published };
}

export async function send(base: string, provider: string, delivery: Delivery): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${base}/webhooks/${provider}`, { method: "POST", headers: delivery.headers, body: delivery.body });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

/** The same delivery with some headers replaced (undefined removes one) or another body. */
export function altered(delivery: Delivery, headers: Record<string, string | undefined>, body?: Buffer | string): Delivery {
  const merged: Record<string, string> = { ...delivery.headers };
  for (const [name, value] of Object.entries(headers)) {
    for (const existing of Object.keys(merged)) if (existing.toLowerCase() === name.toLowerCase()) delete merged[existing];
    if (value !== undefined) merged[name] = value;
  }
  return { headers: merged, body: body === undefined ? delivery.body : Buffer.from(body) };
}

/** Waits a little for anything that might still arrive, then returns what did. */
export async function settle<T>(list: T[], ms = 150): Promise<T[]> {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return list;
}
