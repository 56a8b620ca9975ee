import { mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Options, execa } from "execa";
import type { Bus } from "../../shared/bus/bus.ts";
import type { BodyOf, Envelope } from "../../shared/messages/index.ts";
import { testBus } from "../helpers/test-bus.ts";

// What the hook tests share: the real bin/deploykit, real git and svn in
// child processes with a clean environment, and a subscriber on a real broker.

export const root = new URL("../../../", import.meta.url).pathname;
export const bin = join(root, "bin", "deploykit");

export type Commits = Envelope<BodyOf<"git.commits">>;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A clean environment: no user or system git config, no deploykit config file, deploykit found through DEPLOYKIT_BIN. */
export function cleanEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  mkdirSync(home, { recursive: true });
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_AUTHOR_NAME: "Ada Lovelace",
    GIT_AUTHOR_EMAIL: "ada@example.org",
    GIT_COMMITTER_NAME: "Ada Lovelace",
    GIT_COMMITTER_EMAIL: "ada@example.org",
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_BIN: bin,
    ...extra,
  };
}

/** Runs a command; fails the test with its output when it exits non-zero. */
export async function run(file: string, args: string[], cwd: string, env: Record<string, string>, options: Options = {}) {
  const result = await execa(file, args, { cwd, env, extendEnv: false, reject: false, timeout: 30_000, ...options });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(" ")} exited ${result.exitCode}:\n${String(result.stdout)}\n${String(result.stderr)}`);
  return { stdout: String(result.stdout), stderr: String(result.stderr) };
}

export function deploykit(args: string[], cwd: string, env: Record<string, string>, options: Options = {}) {
  return execa(bin, args, { cwd, env, extendEnv: false, reject: false, timeout: 30_000, ...options });
}

/** Lines the hook printed, as the person pushing sees them ("remote: ..."), git's padding removed. */
export function remoteLines(stderr: string): string[] {
  return stderr
    .split("\n")
    .filter((line) => line.startsWith("remote:"))
    .map((line) => line.replace(/^remote: /, "").trimEnd())
    .filter((line) => line.length > 0);
}

export function spoolFiles(dir: string): string[] {
  try {
    return readdirSync(dir).filter((name) => name.endsWith(".json"));
  } catch {
    return [];
  }
}

/** Every git.commits message on the broker under this prefix, in arrival order. */
export async function collect(url: string, prefix: string): Promise<{ bus: Bus; messages: Commits[] }> {
  const bus = testBus(url, prefix);
  const messages: Commits[] = [];
  await bus.subscribe("git.commits", (message) => void messages.push(message));
  return { bus, messages };
}
