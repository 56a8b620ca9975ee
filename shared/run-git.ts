import { execa } from "execa";

export class GitError extends Error {
  readonly exitCode?: number;
  readonly stderr: string;
  constructor(message: string, stderr: string, exitCode?: number) {
    super(message);
    this.name = "GitError";
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

export interface GitOptions {
  cwd?: string;
  /** Kill git after this long (default 5 minutes). */
  timeoutMs?: number;
  /** Extra environment on top of a minimal one. */
  env?: Record<string, string>;
  input?: string;
  /** Kills git when aborted (a daemon stopping); the call then fails with a GitError. */
  signal?: AbortSignal;
  /** Run git as this user and group (the caller must be root to switch). */
  uid?: number;
  gid?: number;
}

/**
 * Runs git with an argv array, never a shell. Callers put outside values
 * (refs, URLs, paths) after `--end-of-options` or `--`, so none can be read as
 * an option. git never prompts (a fetch that needs credentials fails instead
 * of hanging a daemon), and its messages are in English for the logs.
 */
export async function runGit(args: readonly string[], options: GitOptions = {}): Promise<string> {
  const result = await execa("git", args, {
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 300_000,
    reject: false,
    input: options.input,
    cancelSignal: options.signal,
    uid: options.uid,
    gid: options.gid,
    stripFinalNewline: true,
    env: {
      GIT_TERMINAL_PROMPT: "0",
      GIT_ASKPASS: "true",
      SSH_ASKPASS: "true",
      LC_ALL: "C",
      GIT_CONFIG_NOSYSTEM: "1",
      ...options.env,
    },
  });
  const command = subcommand(args);
  if (result.isCanceled) throw new GitError(`git ${command} was cancelled`, String(result.stderr));
  if (result.timedOut) throw new GitError(`git ${command} timed out after ${options.timeoutMs ?? 300_000} ms`, String(result.stderr));
  if (result.exitCode !== 0) {
    const stderr = String(result.stderr).trim();
    const lines = stderr.split("\n");
    // git's own verdict ("fatal: detected dubious ownership...") says what to fix; hints after it do not.
    const verdict = lines.filter((line) => /^(fatal|error): /.test(line));
    const shown = (verdict.length > 0 ? verdict : lines).slice(-3).join(" / ");
    throw new GitError(`git ${command} failed (exit ${result.exitCode}): ${shown || "no message"}`, stderr, result.exitCode);
  }
  return String(result.stdout);
}

/** The git command run, for messages: the first argument that is neither an option nor an option's value (`-c k=v fetch` is "fetch"). */
function subcommand(args: readonly string[]): string {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index] as string;
    if (arg === "-c" || arg === "-C") index++;
    else if (!arg.startsWith("-")) return arg;
  }
  return args[0] ?? "";
}
