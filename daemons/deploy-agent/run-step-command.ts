import { type ChildProcess, spawn } from "node:child_process";
import { statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";

export interface StepCommand {
  /** argv[0]: an absolute path, or a bare name looked up in env.PATH. Never run through a shell. */
  argv: readonly string[];
  cwd: string;
  /** The complete environment: nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Run as this user and group; supplementary groups are dropped. */
  uid?: number;
  gid?: number;
  /** Whole-command limit. */
  timeoutMs: number;
  /** Killed when no output arrived for this long (0 = no limit). */
  inactivityMs: number;
  signal?: AbortSignal;
  /** SIGTERM to the whole process group, then SIGKILL after this (default 5000). */
  killGraceMs?: number;
  /** Longer lines are split into pieces of at most this many bytes (default 4096). */
  maxLineBytes?: number;
  /** Each complete line as it arrives, without its newline; a trailing partial line comes at exit. */
  onLine(stream: "stdout" | "stderr", text: string): void;
}

export type StepCommandResult =
  | { outcome: "succeeded"; exitCode: 0; durationMs: number }
  | { outcome: "failed"; exitCode: number | null; signal: string | null; durationMs: number }
  | { outcome: "timeout"; limit: "timeout" | "inactivity"; durationMs: number }
  | { outcome: "cancelled"; durationMs: number }
  | { outcome: "not-runnable"; reason: string; durationMs: number };

type KillReason = "timeout" | "inactivity" | "cancelled";
type StreamName = "stdout" | "stderr";

// After the command exited, how long a background process it left behind may keep
// the pipes open before we stop reading them.
const pipeDrainMs = 200;
// How often a killed group is looked at after its leader exited.
const groupPollMs = 50;
// setTimeout fires at once for anything longer than this.
const maxTimerMs = 2 ** 31 - 1;

/**
 * Runs one deploy-step command (a pre/post script, a restart, a health check)
 * in its own process group, streaming its output line by line. Never rejects
 * for the command's own failures: the result says what happened.
 */
export async function runStepCommand(command: StepCommand): Promise<StepCommandResult> {
  const startedAt = performance.now();
  const elapsed = () => Math.round(performance.now() - startedAt);
  if (command.signal?.aborted) return { outcome: "cancelled", durationMs: elapsed() };
  const file = command.argv[0];
  if (file === undefined || file === "")
    return { outcome: "not-runnable", reason: "the command is empty: give argv[0], an absolute path or a name found in PATH", durationMs: elapsed() };
  let child: ChildProcess;
  try {
    child = spawn(file, command.argv.slice(1), {
      cwd: command.cwd,
      env: command.env,
      uid: command.uid,
      gid: command.gid,
      // Its own process group, so a kill reaches everything the script started.
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    return { outcome: "not-runnable", reason: spawnFailure(command, err), durationMs: elapsed() };
  }
  return new Promise((resolve) => supervise(child, command, elapsed, resolve));
}

function supervise(child: ChildProcess, command: StepCommand, elapsed: () => number, resolve: (result: StepCommandResult) => void): void {
  const killGraceMs = Math.min(command.killGraceMs ?? 5000, maxTimerMs);
  const maxLineBytes = Math.max(1, Math.floor(command.maxLineBytes ?? 4096));
  const pid = child.pid;
  const pipes: Readable[] = [];
  const openPipes = new Set<Readable>();
  let exit: { code: number | null; signal: string | null } | undefined;
  let killed: KillReason | undefined;
  let killSettled = false;
  let settled = false;
  let graceTimer: NodeJS.Timeout | undefined;
  let drainTimer: NodeJS.Timeout | undefined;
  let pollTimer: NodeJS.Timeout | undefined;

  const deadline = setTimeout(() => kill("timeout"), Math.min(command.timeoutMs, maxTimerMs));
  const inactivity = command.inactivityMs > 0 ? setTimeout(() => kill("inactivity"), Math.min(command.inactivityMs, maxTimerMs)) : undefined;
  const onAbort = () => kill("cancelled");
  command.signal?.addEventListener("abort", onAbort, { once: true });

  const deliver = (stream: StreamName, text: string) => {
    try {
      command.onLine(stream, text);
    } catch {
      // A broken listener must not stop the pipes from being read: the script would block on a full pipe.
    }
  };
  for (const [name, stream] of [
    ["stdout", child.stdout],
    ["stderr", child.stderr],
  ] as const) {
    if (!stream) continue;
    pipes.push(stream);
    openPipes.add(stream);
    const lines = new LineSplitter(maxLineBytes, (text) => deliver(name, text));
    stream.on("data", (chunk: Buffer) => {
      inactivity?.refresh();
      lines.write(chunk);
    });
    stream.on("error", () => {}); // 'close' follows, and that is all we need
    stream.once("close", () => {
      openPipes.delete(stream);
      lines.end();
      maybeFinish();
    });
  }

  child.once("error", (err) => {
    // Signals go through process.kill, so an error here means spawn itself failed.
    if (settled || child.pid !== undefined) return;
    settled = true;
    stopTimers();
    for (const pipe of pipes) pipe.destroy();
    resolve({ outcome: "not-runnable", reason: spawnFailure(command, err), durationMs: elapsed() });
  });

  child.once("exit", (code, signal) => {
    exit = { code, signal };
    stopWatching();
    // Output the command wrote just before exiting is still in the pipes; setImmediate lets one
    // more poll phase read it even when the event loop ran late and this timer is overdue.
    drainTimer = setTimeout(() => setImmediate(stopReading), pipeDrainMs);
    if (killed) pollTimer = setInterval(maybeFinish, groupPollMs);
    maybeFinish();
  });

  function kill(reason: KillReason): void {
    // A command that exited by itself is not killed, nor is what it left running:
    // a restart script may legitimately start a daemon in the background.
    if (killed || exit || settled || pid === undefined) return;
    killed = reason;
    stopWatching();
    signalGroup("SIGTERM");
    graceTimer = setTimeout(() => {
      if (groupAlive()) signalGroup("SIGKILL");
      killSettled = true;
      maybeFinish();
    }, killGraceMs);
  }

  function signalGroup(signal: NodeJS.Signals): void {
    try {
      process.kill(-(pid as number), signal);
    } catch {
      // ESRCH: everything in the group is gone already.
    }
  }

  function groupAlive(): boolean {
    try {
      process.kill(-(pid as number), 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === "EPERM";
    }
  }

  function stopReading(): void {
    // A background process still writing to a pipe we closed gets EPIPE (or SIGPIPE): a daemon
    // a script starts should send its output elsewhere, and reading forever would leak.
    for (const pipe of pipes) pipe.destroy();
  }

  function maybeFinish(): void {
    if (settled || !exit || openPipes.size > 0) return;
    if (killed && !killSettled) {
      if (groupAlive()) return;
      killSettled = true;
    }
    settled = true;
    stopTimers();
    resolve(outcome(exit, killed, elapsed()));
  }

  function stopWatching(): void {
    clearTimeout(deadline);
    clearTimeout(inactivity);
    command.signal?.removeEventListener("abort", onAbort);
  }

  function stopTimers(): void {
    stopWatching();
    clearTimeout(graceTimer);
    clearTimeout(drainTimer);
    clearInterval(pollTimer);
  }
}

function outcome(exit: { code: number | null; signal: string | null }, killed: KillReason | undefined, durationMs: number): StepCommandResult {
  switch (killed) {
    case undefined:
      if (exit.code === 0) return { outcome: "succeeded", exitCode: 0, durationMs };
      return { outcome: "failed", exitCode: exit.code, signal: exit.signal, durationMs };
    case "cancelled":
      return { outcome: "cancelled", durationMs };
    case "timeout":
    case "inactivity":
      return { outcome: "timeout", limit: killed, durationMs };
    default: {
      const never: never = killed;
      throw new Error(`unknown kill reason ${String(never)}`);
    }
  }
}

function spawnFailure(command: StepCommand, err: unknown): string {
  const file = command.argv[0] ?? "";
  const as = command.uid === undefined ? "" : ` as uid ${command.uid}`;
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ENOENT":
      if (!isDirectory(command.cwd)) return `cannot run ${file}: its working directory ${command.cwd} does not exist; create it or fix the step's directory`;
      if (file.includes("/")) return `cannot run ${file}: no such file, or its #! interpreter does not exist; check the path in deploykit.yml`;
      return `cannot run ${file}: not found in PATH (${command.env.PATH ?? "PATH is not set"}); give an absolute path or set PATH in the step's environment`;
    case "EACCES":
      return `cannot run ${file}${as}: permission denied; make it executable (chmod +x) and let that user reach it and ${command.cwd}`;
    case "EPERM":
      return `cannot run ${file}${as}: not permitted to switch user; the deploy agent must run as root to run steps as another user`;
    default:
      return `cannot run ${file}${as}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Splits a byte stream into lines of at most maxBytes UTF-8 bytes, never cutting a character. */
class LineSplitter {
  readonly #decoder = new StringDecoder("utf8");
  readonly #maxBytes: number;
  readonly #emit: (text: string) => void;
  #pending = "";
  #ended = false;

  constructor(maxBytes: number, emit: (text: string) => void) {
    this.#maxBytes = maxBytes;
    this.#emit = emit;
  }

  write(chunk: Buffer): void {
    const text = this.#pending + this.#decoder.write(chunk);
    let start = 0;
    for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", start)) {
      this.#line(text.slice(start, newline));
      start = newline + 1;
    }
    this.#pending = text.slice(start);
    // Output without newlines (a progress bar, a binary dump) must not grow without bound. A
    // trailing CR stays pending: it may be the first half of a CRLF.
    for (;;) {
      const body = this.#pending.endsWith("\r") ? this.#pending.slice(0, -1) : this.#pending;
      if (body.length * 3 <= this.#maxBytes || Buffer.byteLength(body) <= this.#maxBytes) break;
      const cut = cutIndex(body, this.#maxBytes);
      this.#emit(body.slice(0, cut));
      this.#pending = this.#pending.slice(cut);
    }
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const rest = this.#pending + this.#decoder.end();
    this.#pending = "";
    if (rest !== "") this.#line(rest);
  }

  #line(line: string): void {
    let rest = line.endsWith("\r") ? line.slice(0, -1) : line;
    do {
      const cut = cutIndex(rest, this.#maxBytes);
      this.#emit(rest.slice(0, cut));
      rest = rest.slice(cut);
    } while (rest !== "");
  }
}

/** Where to cut text so the first part holds at most maxBytes UTF-8 bytes (at least one character). */
function cutIndex(text: string, maxBytes: number): number {
  let bytes = 0;
  let index = 0;
  while (index < text.length) {
    const code = text.codePointAt(index) as number;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > maxBytes) return index > 0 ? index : size === 4 ? 2 : 1;
    bytes += size;
    index += size === 4 ? 2 : 1;
  }
  return index;
}
