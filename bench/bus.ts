// bench/bus: what deploykit's bus (envelope, zod validation, handler
// machinery) costs over the bare STOMP client it is built on, through the
// same RabbitMQ in one run. 1 publisher and 4 subscribers, each on its own
// connection, all in this process: both modes share one event loop, so the
// throughput ratio is the ratio of client-side work per message.
// docs/benchmarks.md explains the method and holds measured figures.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { setImmediate as yieldToIo, setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Client, type IStompSocket, Versions } from "@stomp/stompjs";
import pino from "pino";
import type { Bus } from "../shared/bus/bus.ts";
import { createBus } from "../shared/bus/create-bus.ts";
import { makeEnvelope } from "../shared/bus/envelope-codec.ts";
import { isDrainable, stompSocket } from "../shared/bus/stomp-socket.ts";

const SUBSCRIBERS = 4;
const ROUNDS = 3;
const WARMUP = 2_000;
/** Most messages in flight at once (see runBatch); far more than one round trip's worth, so never latency bound. */
const WINDOW = 1_000;
/** The subscribers share this event loop: the publisher lets them read this often, as separate processes would. */
const YIELD_EVERY = 100;
const ROUND_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 10_000; // bus default
const PREFETCH = 100; // bus default
/** Both modes send bodies of this size: stompjs parses byte by byte, so unequal sizes would skew the ratio. */
const MESSAGE_BYTES = 500;

function readOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): { url: string; messages: number } {
  const { values } = parseArgs({ args: argv, options: { url: { type: "string" }, messages: { type: "string" } } });
  const url = values.url ?? env.BENCH_BUS_URL ?? "stomp://guest:guest@127.0.0.1:61613";
  const messages = Number(values.messages ?? 50_000);
  if (!Number.isInteger(messages) || messages < 1 || messages > 10_000_000) {
    throw new Error(`--messages "${values.messages}" is not a count: give a whole number from 1 to 10000000`);
  }
  return { url, messages };
}

/** One measured batch: when each message was sent and each subscriber got it. */
class Batch {
  readonly n: number;
  readonly sendTimes: Float64Array;
  readonly latencies: Float64Array;
  readonly counts = new Array<number>(SUBSCRIBERS).fill(0);
  lastReceived = 0;
  onReceive?: () => void;
  private remaining = SUBSCRIBERS;
  private done?: () => void;

  constructor(n: number) {
    this.n = n;
    this.sendTimes = new Float64Array(n);
    this.latencies = new Float64Array(n * SUBSCRIBERS);
  }

  receive(subscriber: number, seq: number): void {
    const now = performance.now();
    if (!(seq >= 0 && seq < this.n)) return;
    this.latencies[subscriber * this.n + seq] = now - (this.sendTimes[seq] as number);
    this.onReceive?.();
    if (++(this.counts[subscriber] as number) !== this.n) return;
    this.lastReceived = Math.max(this.lastReceived, now);
    if (--this.remaining === 0) this.done?.();
  }

  /** Messages every subscriber has received (each subscriber's queue is FIFO). */
  get delivered(): number {
    return Math.min(...this.counts);
  }

  whenAllReceived(): Promise<void> {
    return this.remaining === 0 ? Promise.resolve() : new Promise((resolve) => (this.done = resolve));
  }
}

/** Sends message `seq`, resolving when the mode considers it sent (written, or confirmed by the broker). */
interface Mode {
  label: string;
  send(seq: number): Promise<unknown>;
}

/** Whatever a setup opened; run at the end, or as soon as a setup fails halfway. */
type Closer = () => Promise<void>;

/** The batch being measured; subscribers report to it, and ignore messages outside one. */
let current: Batch | undefined;

/** A bare @stomp/stompjs client over deploykit's TCP adapter, configured like StompTransport's. */
async function rawClient(url: URL): Promise<{ client: Client; socket: () => IStompSocket | undefined; server: string }> {
  let socket: IStompSocket | undefined;
  const client = new Client({
    connectHeaders: { host: "/", login: decodeURIComponent(url.username), passcode: decodeURIComponent(url.password) },
    stompVersions: new Versions([Versions.V1_2]),
    heartbeatIncoming: HEARTBEAT_MS,
    heartbeatOutgoing: HEARTBEAT_MS,
    // No connectionTimeout: stompjs leaves that timer running when the socket closes first, holding a
    // failed run open for 10 s; withTimeout below bounds the wait instead.
    reconnectDelay: 0, // a dropped connection must fail the run, not be papered over
    debug: () => {},
    webSocketFactory: () => (socket = stompSocket(url, { insecure: false })),
  });
  const hint = "is RabbitMQ's STOMP plugin listening there? (set --url or BENCH_BUS_URL)";
  const connected = new Promise<string>((resolve, reject) => {
    client.onConnect = (frame) => resolve(frame.headers.server ?? "unknown");
    client.onStompError = (frame) => reject(new Error(`${url.host} refused the connection: ${frame.headers.message}`));
    client.onWebSocketClose = () => reject(new Error(`connection to ${url.host} closed before CONNECTED: ${hint}`));
    client.activate();
  });
  const server = await withTimeout(connected, CONNECT_TIMEOUT_MS, `no CONNECTED from ${url.host}: ${hint}`).catch(async (err) => {
    await client.deactivate({ force: true });
    throw err;
  });
  return { client, socket: () => socket, server };
}

async function rawMode(url: URL, closers: Closer[]): Promise<Mode & { server: string; bytes: number }> {
  const destination = `/topic/bench-${randomUUID()}`;
  const opened = await Promise.allSettled(Array.from({ length: SUBSCRIBERS + 1 }, () => rawClient(url)));
  const clients = opened.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  closers.push(async () => void (await Promise.all(clients.map(({ client }) => client.deactivate()))));
  for (const result of opened) if (result.status === "rejected") throw result.reason;
  const [publisher, ...subscribers] = clients as [(typeof clients)[0], ...typeof clients];
  await Promise.all(
    subscribers.map(({ client }, index) => {
      // Wait for the SUBSCRIBE receipt, as the bus does: a topic drops what is published before the queue is bound.
      const receipt = randomUUID();
      const bound = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
      const onMessage = (message: { body: string; ack(): void }) => {
        // Even a raw consumer parses its JSON payload: that is baseline work, not bus overhead.
        current?.receive(index, (JSON.parse(message.body) as { seq: number }).seq);
        message.ack();
      };
      client.subscribe(destination, onMessage, { ack: "client-individual", "prefetch-count": String(PREFETCH), receipt });
      return withTimeout(bound, CONNECT_TIMEOUT_MS, "the broker did not confirm SUBSCRIBE");
    }),
  );
  const headers = { "content-type": "application/json", persistent: "true" }; // as the bus sends
  const filler = "x".repeat(MESSAGE_BYTES - JSON.stringify({ seq: 12345, text: "" }).length);
  return {
    label: "(a)  raw STOMP",
    server: publisher.server,
    bytes: JSON.stringify({ seq: 12345, text: filler }).length,
    async send(seq) {
      publisher.client.publish({ destination, body: JSON.stringify({ seq, text: filler }), headers });
      // The same backpressure rule as StompTransport.publish.
      const socket = publisher.socket();
      if (socket && isDrainable(socket)) await socket.whenDrained();
    },
  };
}

async function busModes(url: string, closers: Closer[]): Promise<{ fire: Mode; confirmed: Mode; bytes: number }> {
  const prefix = `bench-${randomUUID()}`;
  const log = pino({ level: "silent" });
  const buses = Array.from({ length: SUBSCRIBERS + 1 }, (_, i) =>
    createBus({
      url,
      prefix,
      source: { component: i === 0 ? "bench-publisher" : `bench-subscriber-${i}`, host: hostname() },
      log,
      publishTimeoutMs: 30_000,
      handlerTimeoutMs: 60_000,
      confirm: true,
      prefetch: PREFETCH,
      heartbeatMs: HEARTBEAT_MS,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      reconnect: { initialMs: 500, maxMs: 30_000 },
      groupMaxLength: 10_000,
      groupExpiryMs: 7 * 86_400_000,
      tls: { insecure: false },
    }),
  );
  closers.push(async () => void (await Promise.all(buses.map((bus) => bus.close({ graceMs: 1_000 })))));
  const [publisher, ...subscribers] = buses as [Bus, ...Bus[]];
  await Promise.all(buses.map((bus) => bus.connected(CONNECT_TIMEOUT_MS)));
  await Promise.all(
    subscribers.map((bus, index) =>
      bus.subscribe("events", (message) => current?.receive(index, Number.parseInt(message.body.text, 10)), {
        deadletter: false,
        onInvalid: (reason) => console.log(`subscriber ${index} got an invalid message: ${reason}`),
      }),
    ),
  );
  // The text carries the sequence number and is sized so the whole envelope is MESSAGE_BYTES long.
  const envelopeBytes = (text: string) => JSON.stringify(makeEnvelope("events", { text, level: "info" }, publisher.source)).length;
  const filler = "x".repeat(MESSAGE_BYTES - envelopeBytes("00000000 "));
  const body = (seq: number) => ({ text: `${String(seq).padStart(8, "0")} ${filler}`, level: "info" as const });
  return {
    bytes: envelopeBytes(body(0).text),
    fire: { label: "(b)  bus, confirm:false", send: (seq) => publisher.publish("events", body(seq), { confirm: false }) },
    confirmed: { label: "(b') bus, confirm:true", send: (seq) => publisher.publish("events", body(seq), { confirm: true }) },
  };
}

interface Result {
  throughput: number;
  publishRate: number;
  p50: number;
  p99: number;
  /** Main-thread CPU (user + system) per message, all 5 connections together. */
  cpuPerMessage: number;
  /** Share of the round's wall time the main thread was on a CPU (the broker and GC threads take the rest). */
  cpuShare: number;
}

/**
 * Publishes n messages and waits until every subscriber has all of them. At
 * most WINDOW messages are in flight: sent but not yet received by every
 * subscriber, or not yet settled by the mode. Without that bound a
 * fire-and-forget publisher outruns the consumers, the broker's queues grow,
 * and latency becomes queue length; with it we measure the sustained rate.
 */
async function runBatch(mode: Mode, n: number): Promise<Result> {
  const batch = new Batch(n);
  current = batch;
  let pending = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const nudge = () => {
    wake?.();
    wake = undefined;
  };
  const settled = () => {
    pending--;
    nudge();
  };
  const waitUntil = async (ready: () => boolean) => {
    while (!ready() && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
  };
  batch.onReceive = nudge;
  const cpuBefore = process.threadCpuUsage();
  const started = performance.now();
  for (let seq = 0; seq < n && failure === undefined; seq++) {
    if (seq % YIELD_EVERY === 0) await yieldToIo();
    await waitUntil(() => pending < WINDOW && seq - batch.delivered < WINDOW);
    batch.sendTimes[seq] = performance.now();
    pending++;
    mode.send(seq).then(settled, (err: unknown) => {
      failure ??= err;
      settled();
    });
  }
  await waitUntil(() => pending === 0);
  if (failure !== undefined) throw failure;
  const published = performance.now();
  batch.onReceive = undefined;
  await batch.whenAllReceived();
  const cpu = process.threadCpuUsage(cpuBefore);
  const elapsed = batch.lastReceived - started;
  current = undefined;
  const sorted = batch.latencies.sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    throughput: (n / elapsed) * 1000,
    publishRate: (n / (published - started)) * 1000,
    p50: at(0.5),
    p99: at(0.99),
    cpuPerMessage: (cpu.user + cpu.system) / n,
    cpuShare: (cpu.user + cpu.system) / 1000 / elapsed,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const columns = ["msgs/s", "publish/s", "p50 ms", "p99 ms", "cpu µs/msg", "cpu %"];

function row(label: string, r: Result): string {
  const values = [r.throughput, r.publishRate, r.p50, r.p99, r.cpuPerMessage, r.cpuShare * 100];
  return label.padEnd(26) + values.map((v, i) => v.toFixed(i === 2 || i === 3 ? 1 : 0).padStart(11)).join("");
}

/** Warms each mode up, then runs them in turn, round after round; throws when a round fails or times out. */
async function measure(modes: Mode[], messages: number): Promise<Map<Mode, Result[]>> {
  const results = new Map<Mode, Result[]>(modes.map((mode) => [mode, []]));
  for (const mode of modes) await withTimeout(runBatch(mode, WARMUP), ROUND_TIMEOUT_MS, `${mode.label}: warm-up timed out`);
  // Alternating spreads machine noise (the broker shares these cores) over every mode alike.
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mode of modes) {
      const result = await withTimeout(runBatch(mode, messages), ROUND_TIMEOUT_MS, `no result after ${ROUND_TIMEOUT_MS / 1000} s`).catch((err) => {
        const counts = current ? ` (received per subscriber: ${current.counts.join(", ")} of ${current.n})` : "";
        throw new Error(`${mode.label}, round ${round}: ${(err as Error).message}${counts}`);
      });
      results.get(mode)?.push(result);
      console.log(row(`${mode.label} #${round}`, result));
      await sleep(200); // the last acks settle before the next mode starts
    }
  }
  return results;
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const url = new URL(options.url);
  const closers: Closer[] = [];
  let modes: [Mode, Mode, Mode];
  let results: Map<Mode, Result[]>;
  try {
    const raw = await rawMode(url, closers);
    const { fire, confirmed, bytes } = await busModes(options.url, closers);
    modes = [raw, fire, confirmed];
    console.log(`broker ${raw.server} at ${url.host}; ${options.messages} messages per round, ${SUBSCRIBERS} subscribers`);
    console.log(`message bodies: raw ${raw.bytes} bytes, bus envelope ${bytes} bytes`);
    console.log("mode".padEnd(26) + columns.map((c) => c.padStart(11)).join(""));
    results = await measure(modes, options.messages);
  } finally {
    current = undefined;
    await Promise.all(closers.map((close) => close().catch(() => {})));
  }
  const median = (mode: Mode): Result => {
    const sorted = [...(results.get(mode) ?? [])].sort((x, y) => x.throughput - y.throughput);
    return sorted[Math.floor(sorted.length / 2)] as Result;
  };
  const [raw, fire, confirmed] = modes;
  console.log(`\nmedian of ${ROUNDS} rounds by msgs/s (messages delivered per second to each subscriber;`);
  console.log("cpu = this process's main thread, per message, publisher and 4 subscribers together)");
  for (const mode of modes) console.log(row(mode.label, median(mode)));
  const ratio = median(fire).throughput / median(raw).throughput;
  const ratioConfirmed = median(confirmed).throughput / median(raw).throughput;
  console.log(`\nratio (b)/(a) throughput: ${ratio.toFixed(2)} (goal ≥ 0.80)`);
  console.log(`ratio (b')/(a) throughput: ${ratioConfirmed.toFixed(2)} (information: broker receipts, the bus default)`);
  if (ratio < 0.8) console.log(`GOAL MISSED: the bus keeps ${(ratio * 100).toFixed(0)}% of the raw client's throughput, not 80%`);
}

await main().catch((err: Error) => {
  console.log(`ABORTED: ${err.message}`);
  process.exitCode = 1;
});
