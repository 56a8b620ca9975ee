import path from "node:path";
import { execa } from "execa";
import { isDebianPackageName } from "../../shared/debian/package-name.ts";
import { isDebianVersion } from "../../shared/debian/compare-versions.ts";

/** A command that could not run, timed out, or exited with a status its caller does not accept. */
export class AptCommandError extends Error {
  readonly command: string;
  readonly exitCode?: number;
  readonly stderr: string;
  constructor(command: string, message: string, stderr: string, exitCode?: number) {
    super(message);
    this.name = "AptCommandError";
    this.command = command;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

export interface AptToolsOptions {
  /** `NAME=VALUE` items, each given as `-o NAME=VALUE`. */
  aptOptions: readonly string[];
  /** APT_CONFIG for apt-get and apt-cache; "" leaves the system's. */
  aptConfigFile: string;
  /** dpkg-query --admindir; "" leaves the system's. */
  dpkgAdmindir: string;
  timeoutMs: number;
}

export interface UpdateResult {
  durationMs: number;
  /** apt's W: and E: lines: a source that failed while others worked leaves apt-get update's status at 0. */
  messages: string[];
}

export interface AptTools {
  /** apt-get update; throws AptCommandError when it fails as a whole. */
  update(signal: AbortSignal): Promise<UpdateResult>;
  /** Installed packages matching these names or globs: name → version. */
  installed(patterns: readonly string[], signal: AbortSignal): Promise<Map<string, string>>;
  /** apt's candidate version for each of these names that has one. */
  candidates(names: readonly string[], signal: AbortSignal): Promise<Map<string, string>>;
  /** Names apt knows that start with prefix ("" for all). */
  knownNames(prefix: string, signal: AbortSignal): Promise<string[]>;
}

// An apt configuration item: a name such as Dir::Etc::sourcelist or
// Acquire::http::Proxy::repo.example, then =VALUE. Checked at start so a typo
// is a clear error instead of an apt usage message on every check.
const aptItem = /^[A-Za-z0-9][A-Za-z0-9_:.+/-]*=/;

// Package states in which the package's files are on the disk; config-files
// and not-installed leave only a version in the database.
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own ${field} syntax, not a template
const dpkgFormat = "-f=${Package}\\t${Version}\\t${db:Status-Status}\\n";

const presentStates = new Set(["installed", "unpacked", "half-configured", "half-installed", "triggers-awaited", "triggers-pending"]);

/**
 * apt-get, apt-cache and dpkg-query with argv arrays and apt's output in
 * English. Names given here are Debian package names or the configured globs,
 * which cannot start with a dash; `--` ends the options all the same.
 */
export function aptTools(options: AptToolsOptions): AptTools {
  for (const item of options.aptOptions) {
    if (!aptItem.test(item)) throw new Error(`package-watcher.aptOptions: "${item}" is not an apt configuration item NAME=VALUE (e.g. Dir::Etc::sourcelist=/etc/apt/sources.list)`);
  }
  const aptArgs: string[] = [];
  for (const item of options.aptOptions) aptArgs.push("-o", item);
  // apt must see the same installed set as dpkg-query, or its candidate can differ (pins, Multi-Arch).
  if (options.dpkgAdmindir && !options.aptOptions.some((item) => item.startsWith("Dir::State::status="))) {
    aptArgs.push("-o", `Dir::State::status=${path.join(options.dpkgAdmindir, "status")}`);
  }
  const env: Record<string, string> = { LC_ALL: "C" };
  if (options.aptConfigFile) env.APT_CONFIG = options.aptConfigFile;

  const run = async (what: string, args: string[], signal: AbortSignal, okStatus: readonly number[] = [0]) => {
    const command = what.split(" ")[0] as string;
    const result = await execa(command, args, { env, timeout: options.timeoutMs, cancelSignal: signal, reject: false, stdin: "ignore" });
    const stderr = String(result.stderr ?? "");
    if (result.isCanceled) throw new AptCommandError(command, `${what} was stopped`, stderr);
    if (result.timedOut) throw new AptCommandError(command, `${what} timed out after ${options.timeoutMs} ms`, stderr);
    if (result.exitCode === undefined) throw new AptCommandError(command, `${what} could not run: ${result.shortMessage ?? result.message}`, stderr);
    if (!okStatus.includes(result.exitCode)) {
      const tail = stderr.trim().split("\n").slice(-3).join(" / ") || "no message";
      throw new AptCommandError(command, `${what} failed (exit ${result.exitCode}): ${tail}`, stderr, result.exitCode);
    }
    return { stdout: String(result.stdout ?? ""), stderr };
  };

  return {
    async update(signal) {
      const started = performance.now();
      const { stdout, stderr } = await run("apt-get update", ["-q", ...aptArgs, "update"], signal);
      const messages = `${stdout}\n${stderr}`.split("\n").filter((line) => /^[WE]: /.test(line));
      return { durationMs: Math.round(performance.now() - started), messages };
    },

    async installed(patterns, signal) {
      const installed = new Map<string, string>();
      if (patterns.length === 0) return installed;
      const args = options.dpkgAdmindir ? [`--admindir=${options.dpkgAdmindir}`] : [];
      // Status 1: some pattern matched nothing, which is no error here.
      const { stdout } = await run("dpkg-query -W", [...args, "-W", dpkgFormat, "--", ...patterns], signal, [0, 1]);
      for (const line of stdout.split("\n")) {
        const [name = "", version = "", state = ""] = line.split("\t");
        if (isDebianPackageName(name) && isDebianVersion(version) && presentStates.has(state) && !installed.has(name)) installed.set(name, version);
      }
      return installed;
    },

    async candidates(names, signal) {
      const candidates = new Map<string, string>();
      if (names.length === 0) return candidates;
      const { stdout } = await run("apt-cache policy", ["-q", ...aptArgs, "policy", "--", ...names], signal);
      let current: string | undefined;
      for (const line of stdout.split("\n")) {
        // "shop-web:" or, for another architecture, "shop-web:i386:"
        const header = /^([a-z0-9][a-z0-9+.-]+)(?::[a-z0-9-]+)?:$/.exec(line);
        if (header) {
          current = header[1];
          continue;
        }
        const candidate = /^ {2}Candidate: (\S+)$/.exec(line)?.[1];
        if (current && candidate && candidate !== "(none)" && isDebianVersion(candidate) && !candidates.has(current)) candidates.set(current, candidate);
      }
      return candidates;
    },

    async knownNames(prefix, signal) {
      const { stdout } = await run("apt-cache pkgnames", ["-q", ...aptArgs, "pkgnames", ...(prefix ? ["--", prefix] : [])], signal);
      return stdout.split("\n").filter(isDebianPackageName);
    },
  };
}
