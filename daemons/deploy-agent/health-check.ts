import { spawn } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import { setTimeout as sleep } from "node:timers/promises";

/** An HTTP GET (healthy on 2xx, or one of expectStatus) or a command (healthy on exit 0). */
export type HealthCheck =
  | { http: string; expectStatus?: number[]; timeoutMs: number; retries: number; intervalMs: number }
  | { command: string[]; timeoutMs: number; retries: number; intervalMs: number };

export interface HealthCheckRun {
  cwd: string;
  /** The command's whole environment: nothing of the daemon's own is added. */
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  signal?: AbortSignal;
  onLine?(text: string): void;
}

export interface HealthCheckResult {
  healthy: boolean;
  attempts: number;
  /** The last attempt's outcome ("HTTP 503: starting", "exit 1", "timed out after 5000 ms") or "cancelled". */
  detail: string;
}

interface Attempt {
  healthy: boolean;
  detail: string;
}

const bodyKeptBytes = 64 * 1024;
const lineMaxChars = 4096;

/**
 * Runs a health check up to 1 + retries times, intervalMs apart, until one
 * attempt is healthy. Aborting the signal stops the attempt under way and the
 * retries, and the check ends unhealthy with detail "cancelled".
 */
export async function runHealthCheck(check: HealthCheck, run: HealthCheckRun): Promise<HealthCheckResult> {
  const cancelled = (attempts: number): HealthCheckResult => ({ healthy: false, attempts, detail: "cancelled" });
  if ("http" in check) {
    const problem = urlProblem(check.http);
    if (problem !== undefined) return { healthy: false, attempts: 0, detail: problem };
  } else if (check.command.length === 0 || check.command[0] === "") {
    return { healthy: false, attempts: 0, detail: "the health check command is empty: give it as an argv list, e.g. [/usr/local/bin/check-app, --quick]" };
  }

  const total = 1 + Math.max(0, Math.floor(check.retries));
  let last: Attempt = { healthy: false, detail: "not run" };
  for (let attempts = 1; attempts <= total; attempts++) {
    if (run.signal?.aborted) return cancelled(attempts - 1);
    last = "http" in check ? await httpAttempt(check.http, check.expectStatus, check.timeoutMs, run.signal) : await commandAttempt(check.command, check.timeoutMs, run);
    if (last.healthy) {
      run.onLine?.(`attempt ${attempts}: ${last.detail}`);
      return { healthy: true, attempts, detail: last.detail };
    }
    if (run.signal?.aborted) return cancelled(attempts);
    run.onLine?.(`attempt ${attempts}: ${last.detail}`);
    if (attempts === total) return { healthy: false, attempts, detail: last.detail };
    try {
      await sleep(check.intervalMs, undefined, { signal: run.signal });
    } catch {
      return cancelled(attempts);
    }
  }
  return { healthy: false, attempts: total, detail: last.detail };
}

function urlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `health check URL ${JSON.stringify(text)} is not a URL: write it in full, e.g. http://127.0.0.1:8080/health`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `health check URL ${text} must be http:// or https://, not ${url.protocol}`;
  return undefined;
}

async function httpAttempt(url: string, expectStatus: number[] | undefined, timeoutMs: number, cancel: AbortSignal | undefined): Promise<Attempt> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = cancel ? AbortSignal.any([timeout, cancel]) : timeout;
  let status: number | undefined;
  try {
    // A redirect is reported, not followed: a health endpoint that redirects (to a login page,
    // say) is misconfigured, and following it could report the wrong page as healthy.
    const response = await fetch(url, { signal, redirect: "manual", headers: { accept: "*/*", "user-agent": "deploykit-deploy-agent" } });
    status = response.status;
    const body = await readBody(response);
    const healthy = expectStatus && expectStatus.length > 0 ? expectStatus.includes(status) : status >= 200 && status <= 299;
    const firstLine = body.split("\n", 1)[0]?.trim().slice(0, 200) ?? "";
    return { healthy, detail: firstLine === "" ? `HTTP ${status}` : `HTTP ${status}: ${firstLine}` };
  } catch (err) {
    const after = status === undefined ? "" : ` (HTTP ${status}, reading the body)`;
    if (timeout.aborted) return { healthy: false, detail: `no answer within ${timeoutMs} ms${after}` };
    if (cancel?.aborted) return { healthy: false, detail: "cancelled" };
    return { healthy: false, detail: `GET ${url} failed${after}: ${errorText(err)}` };
  }
}

// The whole body is read so the connection can be reused, but only the start is kept.
async function readBody(response: Response): Promise<string> {
  if (response.body === null) return "";
  const kept: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    if (size >= bodyKeptBytes) continue;
    const part = chunk.subarray(0, bodyKeptBytes - size);
    kept.push(part);
    size += part.length;
  }
  return Buffer.concat(kept).toString("utf8");
}

// fetch hides the reason ("fetch failed") in err.cause, sometimes nested in an AggregateError.
function errorText(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  if (current instanceof AggregateError && current.errors[0] instanceof Error) current = current.errors[0];
  const error = current as NodeJS.ErrnoException;
  return error?.message ?? String(current);
}

function commandAttempt(argv: string[], timeoutMs: number, run: HealthCheckRun): Promise<Attempt> {
  return new Promise((resolve) => {
    const [file = "", ...args] = argv;
    let lastLine = "";
    let timedOut = false;
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;

    // detached: the check gets its own process group, so a timeout kills whatever it started too.
    const child = spawn(file, args, { cwd: run.cwd, env: run.env, uid: run.uid, gid: run.gid, detached: true, stdio: ["ignore", "pipe", "pipe"] });

    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // the group is already gone
      }
    };
    const stopStreams = (): void => {
      killGroup();
      // A grandchild that left the group may still hold the pipes open; stop waiting for it.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stopStreams();
    }, timeoutMs);
    const onCancel = (): void => stopStreams();
    run.signal?.addEventListener("abort", onCancel, { once: true });

    const finish = (attempt: Attempt): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      run.signal?.removeEventListener("abort", onCancel);
      resolve(attempt);
    };

    const onText = (text: string): void => {
      const line = text.length > lineMaxChars ? `${text.slice(0, lineMaxChars)}...` : text;
      if (line.trim() !== "") lastLine = line.trim();
      run.onLine?.(line);
    };
    const stdoutLines = lineSplitter(onText);
    const stderrLines = lineSplitter(onText);
    child.stdout.on("data", stdoutLines.write);
    child.stderr.on("data", stderrLines.write);

    child.on("error", (err) => {
      // Only a failed start ends the attempt here; other errors (a kill that raced the exit) do not.
      if (child.pid === undefined) finish({ healthy: false, detail: `cannot run ${file} in ${run.cwd}: ${err.message}` });
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      // Whatever the check left running in the background belongs to this attempt only.
      killGroup();
    });
    child.on("close", () => {
      stdoutLines.end();
      stderrLines.end();
      const said = lastLine === "" ? "" : `: ${lastLine.slice(0, 200)}`;
      if (exit === undefined) {
        finish({ healthy: false, detail: `cannot run ${file} in ${run.cwd}` });
      } else if (timedOut && exit.code !== 0) {
        finish({ healthy: false, detail: `timed out after ${timeoutMs} ms${said}` });
      } else if (exit.code === null) {
        finish({ healthy: false, detail: `killed by ${exit.signal ?? "a signal"}${said}` });
      } else {
        finish({ healthy: exit.code === 0, detail: `exit ${exit.code}${said}` });
      }
    });
  });
}

function lineSplitter(onLine: (text: string) => void): { write: (chunk: Buffer) => void; end: () => void } {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  return {
    write: (chunk) => {
      pending += decoder.write(chunk);
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) onLine(line.replace(/\r$/, ""));
      // A check that never prints a newline must not grow this buffer without bound.
      if (pending.length > 64 * 1024) {
        onLine(pending);
        pending = "";
      }
    },
    end: () => {
      pending += decoder.end();
      if (pending !== "") onLine(pending.replace(/\r$/, ""));
      pending = "";
    },
  };
}
