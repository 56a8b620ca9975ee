import { setTimeout as sleep } from "node:timers/promises";
import test, { type ExecutionContext } from "ava";
import { type ProgressBody, ProgressReporter, type ProgressReporterOptions } from "../../../daemons/deploy-agent/progress-reporter.ts";
import { deployProgressV1 } from "../../../shared/messages/types.ts";
import { captureLog } from "../../helpers/capture-log.ts";

interface FakeBus {
  /** Bodies in the order publish was called. */
  bodies: ProgressBody[];
  /** Most publishes running at once. */
  maxInFlight: number;
}

/**
 * The network edge: records every body after checking it against the
 * deploy.progress.v1 schema, and lets a test delay or fail a publish.
 */
function fakeBus(t: ExecutionContext, behave: (body: ProgressBody) => Promise<void> | void = () => {}): FakeBus & { publish(body: ProgressBody): Promise<void> } {
  let inFlight = 0;
  const bus = {
    bodies: [] as ProgressBody[],
    maxInFlight: 0,
    async publish(body: ProgressBody): Promise<void> {
      t.notThrows(() => deployProgressV1.parse(body), `seq ${body.seq} is a valid deploy.progress.v1 body`);
      bus.bodies.push(structuredClone(body));
      inFlight++;
      bus.maxInFlight = Math.max(bus.maxInFlight, inFlight);
      try {
        await behave(body);
      } finally {
        inFlight--;
      }
    },
  };
  return bus;
}

function reporter(bus: { publish(body: ProgressBody): Promise<void> }, options: Partial<ProgressReporterOptions> = {}) {
  const { log, lines } = captureLog();
  const progress = new ProgressReporter({ deployId: "d-1", host: "web-1", publish: (body) => bus.publish(body), log, ...options });
  return { progress, logLines: lines };
}

const texts = (body: ProgressBody) => body.lines.map((line) => line.text);
const seqs = (bodies: ProgressBody[]) => bodies.map((body) => body.seq);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await sleep(10);
}

test("messages go out one at a time in seq order while several producers write and publishing is slow", async (t) => {
  const bus = fakeBus(t, () => sleep(Math.floor(Math.random() * 4)));
  const { progress } = reporter(bus, { flushMs: 2, maxBatchLines: 4 });
  progress.step("fetch", "started");
  const producer = async (stream: "stdout" | "stderr") => {
    for (let i = 0; i < 40; i++) {
      progress.line("fetch", stream, `${stream} ${i}`);
      if (i % 3 === 0) await sleep(1);
    }
  };
  await Promise.all([producer("stdout"), producer("stderr")]);
  progress.step("fetch", "succeeded");
  progress.step("link", "started");
  progress.line("link", "agent", "switched current");
  progress.step("link", "succeeded");
  await progress.flush();

  t.is(bus.maxInFlight, 1, "the next publish starts only after the previous one settled");
  t.deepEqual(seqs(bus.bodies), range(bus.bodies.length));
  const fetchLines = bus.bodies.filter((body) => body.step === "fetch").flatMap((body) => body.lines);
  for (const stream of ["stdout", "stderr"] as const)
    t.deepEqual(
      fetchLines.filter((line) => line.stream === stream).map((line) => line.text),
      range(40).map((i) => `${stream} ${i}`),
    );
  t.deepEqual(bus.bodies[0], { deployId: "d-1", host: "web-1", step: "fetch", state: "started", seq: 0, lines: [] });
  t.deepEqual(
    bus.bodies.filter((body) => body.state !== "running").map((body) => `${body.step} ${body.state}`),
    ["fetch started", "fetch succeeded", "link started", "link succeeded"],
  );
  const fetchEnd = bus.bodies.findIndex((body) => body.step === "fetch" && body.state === "succeeded");
  t.true(
    bus.bodies.slice(0, fetchEnd).every((body) => body.step === "fetch"),
    "a step's lines go out before its end",
  );
  t.true(bus.bodies.every((body) => body.lines.length <= 4));
  t.is(progress.dropped, 0);
});

test("a batch closes at maxBatchLines lines", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 60_000, maxBatchLines: 3 });
  for (let i = 0; i < 7; i++) progress.line("pre-fetch", "stdout", `line ${i}`);
  await progress.flush();
  t.deepEqual(
    bus.bodies.map((body) => body.lines.length),
    [3, 3, 1],
  );
  t.true(bus.bodies.every((body) => body.state === "running" && body.step === "pre-fetch"));
  t.deepEqual(bus.bodies.flatMap(texts), range(7).map((i) => `line ${i}`));
});

test("a batch closes before it would pass maxBatchBytes, and a longer line is cut at a character", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 60_000, maxBatchBytes: 10 });
  for (let i = 0; i < 5; i++) progress.line("restart", "stdout", "aaaa");
  progress.line("restart", "stderr", "x".repeat(25));
  progress.line("restart", "stderr", "é".repeat(8));
  await progress.flush();
  t.deepEqual(bus.bodies.map(texts), [["aaaa", "aaaa"], ["aaaa", "aaaa"], ["aaaa"], ["x".repeat(10)], ["é".repeat(5)]]);
});

test("buffered lines go out after flushMs without a flush call", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 20 });
  progress.line("verify", "stdout", "one");
  progress.line("verify", "stdout", "two");
  await until(() => bus.bodies.length === 1);
  t.deepEqual(bus.bodies.map(texts), [["one", "two"]]);
  progress.line("verify", "stdout", "three");
  await until(() => bus.bodies.length === 2);
  t.deepEqual(bus.bodies.map(texts), [["one", "two"], ["three"]]);
});

test("lines of different steps never share a message", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 60_000 });
  progress.line("fetch", "stdout", "f1");
  progress.line("fetch", "stdout", "f2");
  progress.line("link", "agent", "l1");
  progress.line("fetch", "stderr", "f3");
  progress.step("fetch", "succeeded");
  await progress.flush();
  t.deepEqual(
    bus.bodies.map((body) => [body.step, body.state, texts(body)]),
    [
      ["fetch", "running", ["f1", "f2"]],
      ["link", "running", ["l1"]],
      ["fetch", "running", ["f3"]],
      ["fetch", "succeeded", []],
    ],
  );
});

test("beyond maxStepLines a step's lines are counted, and its end says how many were not streamed", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 60_000, maxStepLines: 5 });
  progress.step("post-deploy", "started");
  for (let i = 0; i < 8; i++) progress.line("post-deploy", "stdout", `out ${i}`);
  progress.step("post-deploy", "failed", "exit code 3");
  for (let i = 0; i < 2; i++) progress.line("verify", "stdout", `verify ${i}`);
  await progress.flush();
  const streamed = bus.bodies.filter((body) => body.step === "post-deploy" && body.state === "running").flatMap(texts);
  t.deepEqual(streamed, range(5).map((i) => `out ${i}`));
  const end = bus.bodies.find((body) => body.state === "failed");
  t.deepEqual(end?.lines, [
    { stream: "agent", text: "exit code 3" },
    { stream: "agent", text: "3 lines not streamed (limit 5 per step)" },
  ]);
  t.deepEqual(bus.bodies.filter((body) => body.step === "verify").flatMap(texts), ["verify 0", "verify 1"], "the limit is per step");
  t.is(progress.dropped, 3);
  t.deepEqual(progress.tail("post-deploy").slice(-3), ["out 6", "out 7", "exit code 3"], "the tail keeps lines that were not streamed");
});

test("a full queue drops output lines but never state messages", async (t) => {
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const bus = fakeBus(t, () => gate);
  const { progress, logLines } = reporter(bus, { flushMs: 60_000, maxBatchLines: 1, maxQueuedMessages: 2 });
  progress.step("fetch", "started");
  for (let i = 0; i < 10; i++) progress.line("fetch", "stdout", `line ${i}`);
  progress.step("fetch", "succeeded");
  progress.step("pre-link", "started");
  progress.step("pre-link", "skipped", "no pre-link script");
  release();
  await progress.flush();

  t.deepEqual(seqs(bus.bodies), range(bus.bodies.length));
  t.deepEqual(
    bus.bodies.filter((body) => body.state !== "running").map((body) => `${body.step} ${body.state}`),
    ["fetch started", "fetch succeeded", "pre-link started", "pre-link skipped"],
  );
  const streamed = bus.bodies.filter((body) => body.state === "running").flatMap(texts);
  t.true(streamed.length <= 3, `at most the queue bound plus one batch was kept, got ${streamed.length}`);
  t.is(streamed.length + progress.dropped, 10);
  t.deepEqual(streamed, range(streamed.length).map((i) => `line ${i}`), "the oldest lines are the ones kept");
  const end = bus.bodies.find((body) => body.state === "succeeded");
  t.deepEqual(end?.lines, [{ stream: "agent", text: `${progress.dropped} lines not streamed (the bus did not keep up with the output)` }]);
  t.true(logLines.some((line) => line.level === 40 && String(line.msg).includes("dropped")));
});

test("a failed publish is logged once and later messages still go out", async (t) => {
  const bus = fakeBus(t, (body) => {
    if (body.seq === 1) throw new Error("broker gone");
  });
  const { progress, logLines } = reporter(bus, {
    flushMs: 60_000,
    publish(body) {
      // A publish that throws instead of returning a rejected promise.
      if (body.seq === 2) {
        bus.bodies.push(body);
        throw new Error("thrown at once");
      }
      return bus.publish(body);
    },
  });
  progress.step("restart", "started");
  progress.line("restart", "stdout", "restarting");
  progress.step("restart", "succeeded");
  progress.step("verify", "started");
  await progress.flush();
  t.deepEqual(seqs(bus.bodies), [0, 1, 2, 3]);
  const warnings = logLines.filter((line) => line.level === 40);
  t.deepEqual(
    warnings.map((line) => line.seq),
    [1, 2],
  );
  t.regex(String((warnings[0]?.err as { message?: string } | undefined)?.message), /broker gone/);
});

test("tail() keeps the last tailLines texts of a step, notes included", async (t) => {
  const bus = fakeBus(t);
  const { progress } = reporter(bus, { flushMs: 60_000, tailLines: 3 });
  for (const text of ["a", "b", "c", "d"]) progress.line("preflight", "stdout", text);
  progress.line("preflight", "stderr", "e");
  progress.line("fetch", "stdout", "other step");
  progress.step("preflight", "failed", "exit code 1");
  t.deepEqual(progress.tail("preflight"), ["d", "e", "exit code 1"]);
  t.deepEqual(progress.tail("fetch"), ["other step"]);
  t.deepEqual(progress.tail("rollback"), []);
  progress.tail("preflight").push("changed by the caller");
  t.deepEqual(progress.tail("preflight"), ["d", "e", "exit code 1"]);
  await progress.close();
});

test("close() sends what is buffered and ignores later calls", async (t) => {
  const bus = fakeBus(t, () => sleep(5));
  const { progress } = reporter(bus, { flushMs: 60_000 });
  progress.step("link", "started");
  progress.line("link", "agent", "switching current");
  await progress.close();
  t.deepEqual(
    bus.bodies.map((body) => [body.state, texts(body)]),
    [
      ["started", []],
      ["running", ["switching current"]],
    ],
  );
  progress.line("link", "agent", "too late");
  progress.step("link", "succeeded");
  await progress.flush();
  await sleep(20);
  t.is(bus.bodies.length, 2);
});
