import { randomUUID } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import test, { type ExecutionContext } from "ava";
import { runStepCommand, type StepCommand, type StepCommandResult } from "../../../daemons/deploy-agent/run-step-command.ts";

const path = "/usr/local/bin:/usr/bin:/bin";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "run-step-command-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function script(dir: string, body: string, mode = 0o755): string {
  const file = join(dir, `step-${randomUUID()}.sh`);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode });
  return file;
}

interface Run {
  result: StepCommandResult;
  stdout: string[];
  stderr: string[];
}

async function run(command: Partial<StepCommand> & Pick<StepCommand, "argv" | "cwd">, onLine?: StepCommand["onLine"]): Promise<Run> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const result = await runStepCommand({
    env: { PATH: path },
    timeoutMs: 30_000,
    inactivityMs: 0,
    ...command,
    onLine(stream, text) {
      (stream === "stdout" ? stdout : stderr).push(text);
      onLine?.(stream, text);
    },
  });
  return { result, stdout, stderr };
}

/**
 * True when the process no longer runs. This container's PID 1 does not reap
 * orphans, so a killed grandchild lingers as a zombie that kill(pid, 0) still
 * finds; a zombie has died and holds nothing, so it counts as gone.
 */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return true;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return /^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return true;
  }
}

async function eventuallyGone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (isGone(pid)) return true;
    await sleep(50);
  }
  return false;
}

function readPid(file: string): number {
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no pid in ${file}`);
  return pid;
}

test("a succeeding script: exit 0, each stream's lines in order, CRLF stripped, the trailing partial line delivered", async (t) => {
  const dir = tempDir(t);
  const file = script(dir, "echo one; echo two >&2; echo three; printf 'crlf\\r\\n'; echo; echo four >&2; printf 'partial'");
  const { result, stdout, stderr } = await run({ argv: [file], cwd: dir });
  t.is(result.outcome, "succeeded");
  t.like(result, { exitCode: 0 });
  t.deepEqual(stdout, ["one", "three", "crlf", "", "partial"]);
  t.deepEqual(stderr, ["two", "four"]);
});

test("a non-zero exit is a failure with its exit code", async (t) => {
  const dir = tempDir(t);
  const { result, stderr } = await run({ argv: [script(dir, "echo bad >&2; exit 3")], cwd: dir });
  t.deepEqual({ ...result, durationMs: 0 }, { outcome: "failed", exitCode: 3, signal: null, durationMs: 0 });
  t.deepEqual(stderr, ["bad"]);
});

test("a script killed by a signal is a failure naming the signal", async (t) => {
  const dir = tempDir(t);
  const { result } = await run({ argv: [script(dir, "kill -USR1 $$; exit 0")], cwd: dir });
  t.deepEqual({ ...result, durationMs: 0 }, { outcome: "failed", exitCode: null, signal: "SIGUSR1", durationMs: 0 });
});

test("the timeout kills the whole process group, grandchildren included", async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, "grandchild.pid");
  const file = script(dir, 'sleep 100 & echo $! > "$1"; echo ready; wait');
  const { result, stdout } = await run({ argv: [file, pidFile], cwd: dir, timeoutMs: 1500, killGraceMs: 1000 });
  t.like(result, { outcome: "timeout", limit: "timeout" });
  t.deepEqual(stdout, ["ready"]);
  t.true(await eventuallyGone(readPid(pidFile)), "the background sleep was killed with its group");
});

test("the inactivity limit kills a silent script", async (t) => {
  const dir = tempDir(t);
  const { result, stdout } = await run({ argv: [script(dir, "echo started; sleep 100")], cwd: dir, inactivityMs: 300, killGraceMs: 1000 });
  t.like(result, { outcome: "timeout", limit: "inactivity" });
  t.deepEqual(stdout, ["started"]);
});

test("the inactivity limit spares a script that prints regularly for longer than the limit", async (t) => {
  const dir = tempDir(t);
  const file = script(dir, 'i=0; while [ $i -lt 25 ]; do echo "tick $i" >&2; sleep 0.1; i=$((i+1)); done; echo done');
  const { result, stdout, stderr } = await run({ argv: [file], cwd: dir, inactivityMs: 1000 });
  t.is(result.outcome, "succeeded");
  t.is(stderr.length, 25);
  t.deepEqual(stdout, ["done"]);
});

test("aborting the signal cancels the command and kills its group", async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, "grandchild.pid");
  const controller = new AbortController();
  const file = script(dir, 'sleep 100 & echo $! > "$1"; echo ready; wait');
  const { result } = await run({ argv: [file, pidFile], cwd: dir, signal: controller.signal, killGraceMs: 1000 }, (_stream, text) => {
    if (text === "ready") controller.abort();
  });
  t.is(result.outcome, "cancelled");
  t.true(await eventuallyGone(readPid(pidFile)));
});

test("a signal aborted beforehand cancels without running anything", async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, "ran");
  const { result } = await run({ argv: [script(dir, 'touch "$1"'), marker], cwd: dir, signal: AbortSignal.abort() });
  t.is(result.outcome, "cancelled");
  await sleep(200);
  t.false(existsSync(marker));
});

test("the group gets SIGTERM first, so a script can clean up", async (t) => {
  const dir = tempDir(t);
  const controller = new AbortController();
  const file = script(dir, "trap 'echo cleaning up; exit 7' TERM; echo ready; while :; do sleep 1; done");
  const { result, stdout } = await run({ argv: [file], cwd: dir, signal: controller.signal, killGraceMs: 20_000 }, (_stream, text) => {
    if (text === "ready") controller.abort();
  });
  t.is(result.outcome, "cancelled");
  t.deepEqual(stdout, ["ready", "cleaning up"]);
});

test("a script that ignores SIGTERM is killed after the grace period, with its children", async (t) => {
  t.timeout(20_000);
  const dir = tempDir(t);
  const pidFile = join(dir, "grandchild.pid");
  const controller = new AbortController();
  const file = script(dir, "trap '' TERM; sleep 100 & echo $! > \"$1\"; echo ready; wait; echo survived");
  const { result, stdout } = await run({ argv: [file, pidFile], cwd: dir, signal: controller.signal, killGraceMs: 300 }, (_stream, text) => {
    if (text === "ready") controller.abort();
  });
  t.is(result.outcome, "cancelled");
  t.deepEqual(stdout, ["ready"]);
  t.true(await eventuallyGone(readPid(pidFile)));
});

test("a missing program is not runnable, with a reason naming it", async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, "no-such-script.sh");
  const absolute = await run({ argv: [missing], cwd: dir });
  t.is(absolute.result.outcome, "not-runnable");
  t.regex((absolute.result as { reason: string }).reason, new RegExp(`${missing}.*no such file`));

  const bare = await run({ argv: ["deploykit-no-such-command"], cwd: dir });
  t.is(bare.result.outcome, "not-runnable");
  t.regex((bare.result as { reason: string }).reason, /deploykit-no-such-command: not found in PATH \(\/usr\/local\/bin:\/usr\/bin:\/bin\)/);

  const noCwd = await run({ argv: [script(dir, "exit 0")], cwd: join(dir, "gone") });
  t.is(noCwd.result.outcome, "not-runnable");
  t.regex((noCwd.result as { reason: string }).reason, /working directory .*\/gone does not exist/);
});

test("a file that is not executable is not runnable", async (t) => {
  const dir = tempDir(t);
  const file = script(dir, "exit 0", 0o644);
  const { result } = await run({ argv: [file], cwd: dir });
  t.is(result.outcome, "not-runnable");
  t.regex((result as { reason: string }).reason, new RegExp(`${file}: permission denied`));
});

test("a bare name is looked up in the given PATH, not the agent's", async (t) => {
  const dir = tempDir(t);
  const found = await run({ argv: ["printf", "%s\\n", "hi"], cwd: dir, env: { PATH: "/usr/bin:/bin" } });
  t.is(found.result.outcome, "succeeded");
  t.deepEqual(found.stdout, ["hi"]);
  const notFound = await run({ argv: ["printf", "hi"], cwd: dir, env: { PATH: dir } });
  t.is(notFound.result.outcome, "not-runnable");
});

test("the environment is exactly the one given: nothing leaks from the agent", async (t) => {
  const dir = tempDir(t);
  process.env.DEPLOYKIT_LEAK_TEST = "x";
  t.teardown(() => {
    delete process.env.DEPLOYKIT_LEAK_TEST;
  });
  const env = { PATH: path, DEPLOYKIT_APP: "web", DEPLOYKIT_REF: "refs/tags/v1 with spaces" };
  const direct = await run({ argv: ["/usr/bin/env"], cwd: dir, env });
  t.is(direct.result.outcome, "succeeded");
  t.deepEqual(direct.stdout.sort(), ["DEPLOYKIT_APP=web", "DEPLOYKIT_REF=refs/tags/v1 with spaces", `PATH=${path}`]);

  const viaShell = await run({ argv: [script(dir, "env")], cwd: dir, env });
  t.true(viaShell.stdout.includes("DEPLOYKIT_APP=web"));
  t.false(viaShell.stdout.some((line) => line.startsWith("DEPLOYKIT_LEAK_TEST=") || line.startsWith("HOME=")));
});

test("shell syntax in argv and environment values stays inert", async (t) => {
  const dir = tempDir(t);
  const marker = join(tmpdir(), `pwned-${randomUUID()}`);
  t.teardown(() => rmSync(marker, { force: true }));
  const hostile = `$(touch ${marker})\`touch ${marker}\`; touch ${marker}`;
  const file = script(dir, 'printf "%s\\n" "$1" "$DEPLOYKIT_REF"; echo $DEPLOYKIT_REF');
  const { result, stdout } = await run({ argv: [file, hostile], cwd: dir, env: { PATH: path, DEPLOYKIT_REF: hostile } });
  t.is(result.outcome, "succeeded");
  t.is(stdout[0], hostile);
  t.is(stdout[1], hostile);
  t.false(existsSync(marker));
});

test("uid and gid run the script as that user, without root's groups", async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const { result, stdout } = await run({ argv: [script(dir, "id -u; id -g; id -G")], cwd: dir, uid: 65534, gid: 65534 });
  t.is(result.outcome, "succeeded");
  t.deepEqual(stdout, ["65534", "65534", "65534"]);
});

test("long lines are split at maxLineBytes without cutting a character, with or without a newline", async (t) => {
  const dir = tempDir(t);
  const file = script(dir, "head -c 10000 /dev/zero | tr '\\0' a; echo; printf 'ééééé\\n' >&2; head -c 9000 /dev/zero | tr '\\0' b");
  const big = await run({ argv: [file], cwd: dir });
  t.deepEqual(
    big.stdout.map((line) => line.length),
    [4096, 4096, 1808, 4096, 4096, 808],
  );
  t.is(big.stdout.slice(0, 3).join(""), "a".repeat(10_000));
  t.is(big.stdout.slice(3).join(""), "b".repeat(9000));
  t.deepEqual(big.stderr, ["ééééé"]);

  const small = await run({ argv: [file], cwd: dir, maxLineBytes: 5 });
  t.deepEqual(small.stderr, ["éé", "éé", "é"]);
});

test("multi-byte characters split across reads decode intact", async (t) => {
  const dir = tempDir(t);
  const file = script(dir, "printf '\\342\\202'; sleep 0.3; printf '\\254 and \\360\\237\\232'; sleep 0.3; printf '\\200\\n'");
  const { result, stdout } = await run({ argv: [file], cwd: dir });
  t.is(result.outcome, "succeeded");
  t.deepEqual(stdout, ["€ and 🚀"]);
});

test("a background process holding the pipes does not hang the call, and is left running", async (t) => {
  t.timeout(15_000);
  const dir = tempDir(t);
  const pidFile = join(dir, "daemon.pid");
  const file = script(dir, 'sleep 100 & echo $! > "$1"; echo started; echo "to stderr" >&2');
  const { result, stdout, stderr } = await run({ argv: [file, pidFile], cwd: dir });
  const daemon = readPid(pidFile);
  t.teardown(() => {
    try {
      process.kill(daemon, "SIGKILL");
    } catch {}
  });
  t.is(result.outcome, "succeeded");
  t.deepEqual(stdout, ["started"]);
  t.deepEqual(stderr, ["to stderr"]);
  t.false(isGone(daemon), "a process the command started and left behind keeps running");
});

test("a listener that throws does not stop the output from being read", async (t) => {
  const dir = tempDir(t);
  const seen: string[] = [];
  const result = await runStepCommand({
    argv: [script(dir, "head -c 300000 /dev/zero | tr '\\0' x >&2; echo last")],
    cwd: dir,
    env: { PATH: path },
    timeoutMs: 30_000,
    inactivityMs: 0,
    onLine(stream, text) {
      seen.push(`${stream}:${text.length}`);
      throw new Error("listener bug");
    },
  });
  t.is(result.outcome, "succeeded");
  t.is(seen.filter((line) => line.startsWith("stderr:")).length, Math.ceil(300_000 / 4096));
  t.deepEqual(
    seen.filter((line) => line.startsWith("stdout:")),
    ["stdout:4"],
  );
});
