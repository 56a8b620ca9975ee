import { constants } from "node:fs";
import { access, readFile, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { extname, join } from "node:path";
import { execa } from "execa";
import YAML from "yaml";

/** Who this host is on the bus, and what deploy requests can target it by. */
export interface HostIdentity {
  identity: string;
  facts: Record<string, unknown>;
  classes: string[];
  /** The commands and files that contributed facts or classes, in the order they were read, for the log. */
  factSources: string[];
}

export interface IdentityOptions {
  /** The configured identity; "" means the host's FQDN. */
  identity: string;
  /** A YAML or JSON file of facts (e.g. written by Puppet); "" = none. A missing file is only a warning. */
  factsFile: string;
  /** Also run `facter --json` when it is on PATH; its facts are the base, the facts file overrides them key by key. */
  facter: boolean;
  /** Puppet's classes.txt, one class per line; "" = none. A missing file is only a warning. */
  classesFile: string;
  /** Classes from the configuration, added to the file's. */
  classes: string[];
  /** Where PATH (for finding facter) and facter's environment come from; default process.env. */
  env?: NodeJS.ProcessEnv;
}

export class HostIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostIdentityError";
  }
}

// The same rule as the `host` field of the messages (shared/messages/fields.ts), so whatever we
// announce in hosts.alive passes validation on the conductor.
const hostNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const facterTimeoutMs = 20_000;
const hostnameTimeoutMs = 5_000;

function isHostName(text: string): boolean {
  return text.length <= 253 && hostNamePattern.test(text);
}

/**
 * The host's fully qualified name: `hostname --fqdn` when it answers with a
 * valid host name (it fails or prints nothing when DNS and /etc/hosts do not
 * know the host), else the kernel's host name.
 */
export async function fqdn(): Promise<string> {
  const result = await execa("hostname", ["--fqdn"], { timeout: hostnameTimeoutMs, reject: false, stdin: "ignore" });
  const answer = typeof result.stdout === "string" ? result.stdout.trim() : "";
  if (result.exitCode === 0 && isHostName(answer)) return answer;
  const name = hostname().trim();
  if (isHostName(name)) return name;
  throw new HostIdentityError(
    `this host's name ${JSON.stringify(name)} is not a valid host name ([A-Za-z0-9][A-Za-z0-9._-]*, at most 253 characters): ` +
      "set deploy-agent.identity in /etc/deploykit/deploykit.yaml or DEPLOYKIT_DEPLOY_AGENT_IDENTITY",
  );
}

/** Reads the identity, facts and classes the agent announces and matches deploy targets against. */
export async function hostIdentity(options: IdentityOptions): Promise<HostIdentity & { warnings: string[] }> {
  const warnings: string[] = [];
  const factSources: string[] = [];
  const env = options.env ?? process.env;

  let identity = options.identity;
  if (identity === "") identity = await fqdn();
  else if (!isHostName(identity))
    throw new HostIdentityError(
      `deploy-agent.identity ${JSON.stringify(identity)} is not a host name ([A-Za-z0-9][A-Za-z0-9._-]*, at most 253 characters): ` +
        "fix deploy-agent.identity in /etc/deploykit/deploykit.yaml or DEPLOYKIT_DEPLOY_AGENT_IDENTITY, or leave it empty to use the host's FQDN",
    );

  let facts: Record<string, unknown> = {};
  if (options.facter) {
    const facter = await findOnPath("facter", env.PATH ?? "");
    if (facter !== undefined) {
      const fromFacter = await runFacter(facter, env, warnings);
      if (fromFacter !== undefined) {
        facts = fromFacter;
        factSources.push(`${facter} --json`);
      }
    }
  }
  if (options.factsFile !== "") {
    const fromFile = await readFactsFile(options.factsFile, warnings);
    if (fromFile !== undefined) {
      facts = { ...facts, ...fromFile };
      factSources.push(options.factsFile);
    }
  }

  const classes = new Set<string>();
  if (options.classesFile !== "") {
    const text = await readOptional(options.classesFile, "deploy-agent.classesFile", warnings);
    if (text !== undefined) {
      for (const line of text.split("\n")) addClass(classes, line);
      factSources.push(options.classesFile);
    }
  }
  for (const name of options.classes) addClass(classes, name);

  return { identity, facts, classes: [...classes], factSources, warnings };
}

function addClass(classes: Set<string>, name: string): void {
  const trimmed = name.trim();
  if (trimmed !== "") classes.add(trimmed);
}

// Empty PATH entries mean the current directory to a shell; we skip them so a `facter`
// lying in whatever directory the daemon started in is never run.
async function findOnPath(command: string, path: string): Promise<string | undefined> {
  for (const dir of path.split(":")) {
    if (dir === "") continue;
    const candidate = join(dir, command);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here: try the next directory
    }
  }
  return undefined;
}

// A broken facter leaves the host with fewer facts, which the warning explains; it must not
// keep the agent from starting and answering deploys by identity.
async function runFacter(facter: string, env: NodeJS.ProcessEnv, warnings: string[]): Promise<Record<string, unknown> | undefined> {
  const result = await execa(facter, ["--json"], { env, extendEnv: false, timeout: facterTimeoutMs, reject: false, stdin: "ignore" });
  const stdout = typeof result.stdout === "string" ? result.stdout : "";
  const stderr = typeof result.stderr === "string" ? result.stderr.trim() : "";
  if (result.timedOut) {
    warnings.push(`${facter} --json did not answer within ${facterTimeoutMs / 1000} s: facts from facter are left out`);
    return undefined;
  }
  if (result.exitCode !== 0) {
    const why = stderr.split("\n").slice(-3).join(" / ") || result.shortMessage;
    warnings.push(`${facter} --json failed (exit ${result.exitCode ?? "none"}): ${why}; facts from facter are left out`);
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(stdout);
    if (isRecord(parsed)) return parsed;
    warnings.push(`${facter} --json printed JSON that is not an object: facts from facter are left out`);
  } catch (err) {
    warnings.push(`${facter} --json printed something that is not JSON (${(err as Error).message}): facts from facter are left out`);
  }
  return undefined;
}

async function readFactsFile(file: string, warnings: string[]): Promise<Record<string, unknown> | undefined> {
  const text = await readOptional(file, "deploy-agent.factsFile", warnings);
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYamlFacts(text);
  } catch (err) {
    throw new HostIdentityError(`facts file ${file} is malformed: ${(err as Error).message}; fix the file or set deploy-agent.factsFile to another one ("" for none)`);
  }
  if (parsed === null || parsed === undefined) {
    warnings.push(`facts file ${file} is empty`);
    return undefined;
  }
  if (!isRecord(parsed))
    throw new HostIdentityError(`facts file ${file} must hold a mapping of fact names to values, not ${Array.isArray(parsed) ? "a list" : `a ${typeof parsed}`}`);
  return parsed;
}

// Puppet's own facts cache (`puppet facts` YAML) wraps the facts in a Ruby object:
// `--- !ruby/object:Puppet::Node::Facts` with `name` and `values`; plain maps are read as they are.
function parseYamlFacts(text: string): unknown {
  const doc = YAML.parseDocument(text, { logLevel: "silent" });
  if (doc.errors.length > 0) throw doc.errors[0];
  const value: unknown = doc.toJS();
  const tag = doc.contents && "tag" in doc.contents ? doc.contents.tag : undefined;
  if (tag?.startsWith("!ruby/object:Puppet::Node::Facts") && isRecord(value) && isRecord(value.values)) return value.values;
  return value;
}

async function readOptional(file: string, key: string, warnings: string[]): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      warnings.push(`${file} (${key}) does not exist: left out`);
      return undefined;
    }
    throw new HostIdentityError(`${file} (${key}) cannot be read: ${(err as Error).message}`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
