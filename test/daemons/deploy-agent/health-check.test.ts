import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import test, { type ExecutionContext } from "ava";
import { type HealthCheck, runHealthCheck } from "../../../daemons/deploy-agent/health-check.ts";
import { waitFor } from "../../helpers/test-bus.ts";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "dk-hc-"));
  // Readable by nobody too, for the run-as-another-user test.
  chmodSync(dir, 0o755);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function serve(t: ExecutionContext, handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, server };
}

function script(t: ExecutionContext, body: string): { dir: string; file: string } {
  const dir = tempDir(t);
  const file = join(dir, "check.sh");
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
  return { dir, file };
}

const env = { PATH: "/usr/local/bin:/usr/bin:/bin", DEPLOYKIT_APP: "shop" };

function http(url: string, overrides: Partial<Extract<HealthCheck, { http: string }>> = {}): HealthCheck {
  return { http: url, timeoutMs: 5_000, retries: 0, intervalMs: 10, ...overrides };
}

function command(argv: string[], overrides: Partial<Extract<HealthCheck, { command: string[] }>> = {}): HealthCheck {
  return { command: argv, timeoutMs: 10_000, retries: 0, intervalMs: 10, ...overrides };
}

test("http: 503 twice then 200 is healthy on the third attempt, one line per attempt", async (t) => {
  let requests = 0;
  const { url } = await serve(t, (request, response) => {
    requests++;
    t.is(request.method, "GET");
    if (requests <= 2) response.writeHead(503).end("warming up\nsecond line");
    else response.writeHead(200).end("ok");
  });
  const lines: string[] = [];
  const result = await runHealthCheck(http(url, { retries: 5 }), { cwd: "/", env: {}, onLine: (line) => lines.push(line) });
  t.deepEqual(result, { healthy: true, attempts: 3, detail: "HTTP 200: ok" });
  t.is(requests, 3, "stops at the first healthy answer");
  t.deepEqual(lines, ["attempt 1: HTTP 503: warming up", "attempt 2: HTTP 503: warming up", "attempt 3: HTTP 200: ok"]);
});

test("http: always 500 is unhealthy after retries + 1 attempts, with the last status", async (t) => {
  let requests = 0;
  const { url } = await serve(t, (_request, response) => {
    requests++;
    response.writeHead(500).end();
  });
  const result = await runHealthCheck(http(url, { retries: 2 }), { cwd: "/", env: {} });
  t.deepEqual(result, { healthy: false, attempts: 3, detail: "HTTP 500" });
  t.is(requests, 3);
});

test("http: expectStatus replaces the 2xx default, and redirects are reported, not followed", async (t) => {
  const { url } = await serve(t, (request, response) => {
    if (request.url === "/health") response.writeHead(302, { location: "/login" }).end();
    else response.writeHead(200).end("login page");
  });
  t.deepEqual(await runHealthCheck(http(url), { cwd: "/", env: {} }), { healthy: false, attempts: 1, detail: "HTTP 302" });
  t.true((await runHealthCheck(http(url, { expectStatus: [302] }), { cwd: "/", env: {} })).healthy);
  const { url: okUrl } = await serve(t, (_request, response) => response.writeHead(204).end());
  t.true((await runHealthCheck(http(okUrl), { cwd: "/", env: {} })).healthy);
  t.false((await runHealthCheck(http(okUrl, { expectStatus: [200] }), { cwd: "/", env: {} })).healthy);
});

test("http: a large body is read to the end and only its first line is reported", async (t) => {
  const { url } = await serve(t, (_request, response) => {
    response.writeHead(503);
    response.end(`${"x".repeat(300)}\n${"y".repeat(1024 * 1024)}`);
  });
  const result = await runHealthCheck(http(url), { cwd: "/", env: {} });
  t.false(result.healthy);
  t.is(result.detail, `HTTP 503: ${"x".repeat(200)}`);
});

test("http: a server that never answers times out on each attempt", async (t) => {
  let requests = 0;
  const { url } = await serve(t, () => {
    requests++;
  });
  const result = await runHealthCheck(http(url, { timeoutMs: 300, retries: 1 }), { cwd: "/", env: {} });
  t.deepEqual(result, { healthy: false, attempts: 2, detail: "no answer within 300 ms" });
  // Each attempt sent its request; on a loaded machine the server (in this
  // process) may read the second only after the check gave up on it.
  await waitFor(() => requests === 2, 5_000, "the server to have seen both attempts");
  t.is(requests, 2);
});

test("http: a closed port is unhealthy with the connection error", async (t) => {
  const { url, server } = await serve(t, () => {});
  await new Promise((resolve) => server.close(resolve));
  const result = await runHealthCheck(http(url, { retries: 1 }), { cwd: "/", env: {} });
  t.false(result.healthy);
  t.is(result.attempts, 2);
  t.regex(result.detail, /ECONNREFUSED/);
});

test("http: only http and https URLs are tried", async (t) => {
  for (const url of ["file:///etc/passwd", "ftp://127.0.0.1/health", "127.0.0.1:8080/health"]) {
    const result = await runHealthCheck(http(url, { retries: 3 }), { cwd: "/", env: {} });
    t.false(result.healthy, url);
    t.is(result.attempts, 0, url);
    t.regex(result.detail, /http/, url);
  }
});

test("http: cancelling stops the attempt under way", async (t) => {
  const controller = new AbortController();
  const { url } = await serve(t, () => controller.abort());
  const result = await runHealthCheck(http(url, { timeoutMs: 60_000, retries: 3 }), { cwd: "/", env: {}, signal: controller.signal });
  t.deepEqual(result, { healthy: false, attempts: 1, detail: "cancelled" });
});

test("cancelling during the interval stops the retries", async (t) => {
  const { url } = await serve(t, (_request, response) => response.writeHead(500).end());
  const controller = new AbortController();
  const result = await runHealthCheck(http(url, { retries: 5, intervalMs: 600_000 }), {
    cwd: "/",
    env: {},
    signal: controller.signal,
    onLine: () => controller.abort(),
  });
  t.deepEqual(result, { healthy: false, attempts: 1, detail: "cancelled" });
});

test("an already cancelled check makes no attempt", async (t) => {
  let requests = 0;
  const { url } = await serve(t, (_request, response) => {
    requests++;
    response.writeHead(200).end();
  });
  const result = await runHealthCheck(http(url), { cwd: "/", env: {}, signal: AbortSignal.abort() });
  t.deepEqual(result, { healthy: false, attempts: 0, detail: "cancelled" });
  t.is(requests, 0);
});

test("command: exit 0 is healthy; output lines go to onLine; env is exactly the one given; cwd is used", async (t) => {
  const { dir, file } = script(t, 'echo "app=$DEPLOYKIT_APP home=$HOME."\necho "in $(pwd)" >&2\necho "$1"');
  const lines: string[] = [];
  const result = await runHealthCheck(command([file, "$(touch pwned)"]), { cwd: dir, env, onLine: (line) => lines.push(line) });
  t.true(result.healthy);
  t.is(result.attempts, 1);
  t.regex(result.detail, /^exit 0/);
  t.true(lines.includes("app=shop home=."), lines.join("\n"));
  t.true(lines.includes(`in ${dir}`), lines.join("\n"));
  t.true(lines.includes("$(touch pwned)"), "arguments stay inert");
  t.false(existsSync(join(dir, "pwned")));
  t.regex(lines.at(-1) ?? "", /^attempt 1: exit 0/);
});

test("command: a failing check is retried and reports its exit code and last line", async (t) => {
  const { dir, file } = script(t, 'echo run >> "$(dirname "$0")/runs"\necho "db unreachable" >&2\nexit 1');
  const lines: string[] = [];
  const result = await runHealthCheck(command(["sh", file], { retries: 2 }), { cwd: dir, env, onLine: (line) => lines.push(line) });
  t.deepEqual(result, { healthy: false, attempts: 3, detail: "exit 1: db unreachable" });
  t.is(readFileSync(join(dir, "runs"), "utf8"), "run\nrun\nrun\n");
  t.deepEqual(
    lines.filter((line) => line.startsWith("attempt")),
    ["attempt 1: exit 1: db unreachable", "attempt 2: exit 1: db unreachable", "attempt 3: exit 1: db unreachable"],
  );
});

test("command: healthy on a later attempt stops retrying", async (t) => {
  const { dir, file } = script(t, 'echo run >> runs\n[ "$(wc -l < runs)" -ge 2 ]');
  const result = await runHealthCheck(command([file], { retries: 5 }), { cwd: dir, env });
  t.true(result.healthy);
  t.is(result.attempts, 2);
  t.is(readFileSync(join(dir, "runs"), "utf8"), "run\nrun\n");
});

async function gone(pid: number): Promise<boolean> {
  // Killed processes may linger as zombies until reaped; a zombie counts as gone.
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
      if (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z")) return true;
    } catch {
      return true;
    }
    await sleep(50);
  }
  return false;
}

test("command: a check that outlives its timeout is killed with everything it started", async (t) => {
  const { dir, file } = script(t, 'sleep 600 &\necho $! > child.pid\necho waiting\nwait');
  const lines: string[] = [];
  const result = await runHealthCheck(command([file], { timeoutMs: 1_500 }), { cwd: dir, env, onLine: (line) => lines.push(line) });
  t.false(result.healthy);
  t.is(result.attempts, 1);
  t.is(result.detail, "timed out after 1500 ms: waiting");
  const pid = Number(readFileSync(join(dir, "child.pid"), "utf8"));
  t.true(await gone(pid), "the background sleep was killed with the process group");
});

test("command: runs as another user when uid and gid are given", async (t) => {
  const { dir, file } = script(t, 'echo "uid=$(id -u) gid=$(id -g)"\n[ "$(id -u)" = 65534 ]');
  const lines: string[] = [];
  const result = await runHealthCheck(command([file]), { cwd: dir, env, uid: 65534, gid: 65534, onLine: (line) => lines.push(line) });
  t.true(result.healthy, result.detail);
  t.true(lines.includes("uid=65534 gid=65534"), lines.join("\n"));
  const asRoot = await runHealthCheck(command([file]), { cwd: dir, env });
  t.false(asRoot.healthy, "the same script fails as root, so the first run really switched user");
});

test("command: a program that does not exist is unhealthy with a reason", async (t) => {
  const dir = tempDir(t);
  const result = await runHealthCheck(command([join(dir, "missing-check")], { retries: 1 }), { cwd: dir, env });
  t.false(result.healthy);
  t.is(result.attempts, 2);
  t.regex(result.detail, /cannot run .*missing-check.*ENOENT/);
  const empty = await runHealthCheck(command([]), { cwd: dir, env });
  t.false(empty.healthy);
  t.is(empty.attempts, 0);
});

test("command: cancelling kills the check under way", async (t) => {
  const { dir, file } = script(t, "echo started\nexec sleep 600");
  const controller = new AbortController();
  const result = await runHealthCheck(command([file], { timeoutMs: 600_000, retries: 3 }), {
    cwd: dir,
    env,
    signal: controller.signal,
    onLine: (line) => {
      if (line === "started") controller.abort();
    },
  });
  t.deepEqual(result, { healthy: false, attempts: 1, detail: "cancelled" });
});
