// bench/bus: the cost of deploykit's bus (envelope, zod validation, handler
// machinery) over the bare STOMP client it is built on, through the same
// RabbitMQ in one run. 1 publisher and 4 subscribers, each on its own
// connection, all in this process: both modes share one event loop and one
// CPU, so the ratio is the ratio of client-side work per message.
// See docs/benchmarks.md for how to read the figures.
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
/** Publishes started but not yet resolved (receipt or drain); keeps the publisher off the latency-bound path. */
const WINDOW = 1_000;
/** The subscribers share this event loop: give them a turn this often, as separate processes would get one. */
const YIELD_EVERY = 100;
const ROUND_TIMEOUT_MS = 120_000;
const CONNECT_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 10_000; // the bus default
const PREFETCH = 100; // the bus default
const PAD = "x".repeat(1_000);

export interface BenchOptions {
  url: string;
  messages: number;
}

export function readOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({ args: argv, options: { url: { type: "string" }, messages: { type: "string" } } });
  const url = values.url ?? env.BENCH_BUS_URL ?? "stomp://guest:guest@127.0.0.1:61613";
  const messages = Number(values.messages ?? 50_000);
  if (!Number.isInteger(messages) || messages < 1 || messages > 10_000_000) {
    throw new Error(`--messages "${values.messages}" is not a count: give a whole number from 1 to 10000000`);
  }
  return { url, messages };
}

/** One measured batch: who received what, when. Receipts outside a batch are ignored. */
class Batch {
  readonly sendTimes: Float64Array;
  readonly latencies: Float64Array;
  readonly counts = new Array<number>(SUBSCRIBERS).fill(0);
  lastReceived = 0;
  finished = false;
  private remaining = SUBSCRIBERS;
  private done?: () => void;
  onReceive?: () => void;
  readonly n: number;

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
    if (--this.remaining === 0) {
      this.finished = true;
      this.done?.();
    }
  }

  /** Messages every subscriber has received (each subscriber's queue is FIFO). */
  get delivered(): number {
    return Math.min(...this.counts);
  }

  whenAllReceived(): Promise<void> {
    return this.finished ? Promise.resolve() : new Promise((resolve) => (this.done = resolve));
  }
}

/** What one mode needs: send message `seq` (resolving when the mode considers it sent) and a close. */
interface Mode {
  label: string;
  send(seq: number): Promise<unknown>;
  close(): Promise<void>;
}

let current: Batch | undefined;

/** A bare @stomp/stompjs client over deploykit's TCP adapter, set up like the STOMP transport sets its own. */
async function rawClient(url: URL): Promise<{ client: Client; socket: () => IStompSocket | undefined; server: string }> {
  let socket: IStompSocket | undefined;
  const client = new Client({
    connectHeaders: { host: "/", login: decodeURIComponent(url.username), passcode: decodeURIComponent(url.password) },
    stompVersions: new Versions([Versions.V1_2]),
    heartbeatIncoming: HEARTBEAT_MS,
    heartbeatOutgoing: HEARTBEAT_MS,
    connectionTimeout: CONNECT_TIMEOUT_MS,
    reconnectDelay: 0, // a dropped connection should fail the run, not be papered over
    debug: () => {},
    webSocketFactory: () => (socket = stompSocket(url, { insecure: false })),
  });
  const server = await withTimeout(
    new Promise<string>((resolve, reject) => {
      client.onConnect = (frame) => resolve(frame.headers.server ?? "unknown");
      client.onStompError = (frame) => reject(new Error(`broker refused the connection: ${frame.headers.message}`));
      client.onWebSocketClose = () => reject(new Error(`connection to ${url.host} closed before CONNECTED`));
      client.activate();
    }),
    CONNECT_TIMEOUT_MS,
    `no CONNECTED from ${url.host}: is RabbitMQ's STOMP plugin running? (set --url or BENCH_BUS_URL)`,
  ).catch(async (err: Error) => {
    await client.deactivate({ force: true });
    throw err;
  });
  return { client, socket: () => socket, server };
}

async function rawMode(url: URL): Promise<Mode & { server: string; bytes: number }> {
  const destination = `/topic/bench-${randomUUID()}`;
  const clients = await Promise.all(Array.from({ length: SUBSCRIBERS + 1 }, () => rawClient(url)));
  const [publisher, ...subscribers] = clients as [(typeof clients)[0], ...typeof clients];
  await Promise.all(
    subscribers.map(({ client }, index) => {
      // Wait for the SUBSCRIBE receipt, as the bus does, so no message is published before the queue is bound.
      const receipt = randomUUID();
      const bound = new Promise<void>((resolve) => client.watchForReceipt(receipt, () => resolve()));
      client.subscribe(
        destination,
        (message) => {
          // A raw consumer still parses its JSON payload; that is the baseline, not extra bus work.
          current?.receive(index, (JSON.parse(message.body) as { seq: number }).seq);
          message.ack();
        },
        { ack: "client-individual", "prefetch-count": String(PREFETCH), receipt },
      );
      return withTimeout(bound, CONNECT_TIMEOUT_MS, "no receipt for SUBSCRIBE");
    }),
  );
  const headers = { "content-type": "application/json", persistent: "true" }; // what the bus sends too
  const filler = PAD.slice(0, 500 - JSON.stringify({ seq: 12345, text: "" }).length);
  return {
    label: "(a)  raw STOMP",
    server: publisher.server,
    bytes: Buffer.byteLength(JSON.stringify({ seq: 0, text: filler })),
    async send(seq) {
      publisher.client.publish({ destination, body: JSON.stringify({ seq, text: filler }), headers });
      // Same backpressure rule as StompTransport.publish.
      const socket = publisher.socket();
      if (socket && isDrainable(socket)) await socket.whenDrained();
    },
    close: async () => {
      await Promise.all(clients.map(({ client }) => client.deactivate()));
    },
  };
}

/** The text length that makes the whole envelope about 600 bytes on the wire. */
const TEXT_LENGTH = 360;

async function busModes(url: string): Promise<{ fire: Mode; confirmed: Mode; bytes: number }> {
  const prefix = `bench-${randomUUID()}`;
  const log = pino({ level: "silent" });
  const make = (component: string): Bus =>
    createBus({
      url,
      prefix,
      source: { component, host: hostname() },
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
    });
  const buses = Array.from({ length: SUBSCRIBERS + 1 }, (_, i) => make(i === 0 ? "bench-publisher" : `bench-subscriber-${i}`));
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
  const filler = PAD.slice(0, TEXT_LENGTH - 9);
  const body = (seq: number) => ({ text: `${String(seq).padStart(8, "0")} ${filler}`, level: "info" as const });
  const send = (seq: number, confirm: boolean) => publisher.publish("events", body(seq), { confirm });
  const bytes = Buffer.byteLength(JSON.stringify(makeEnvelope("events", body(0), publisher.source)));
  let open = 2;
  const close = async () => {
    if (--open === 0) await Promise.all(buses.map((bus) => bus.close({ graceMs: 1_000 })));
  };
  return {
    bytes,
    fire: { label: "(b)  bus, confirm:false", send: (seq) => send(seq, false), close },
    confirmed: { label: "(b') bus, confirm:true", send: (seq) => send(seq, true), close },
  };
}

interface Result {
  throughput: number;
  publishRate: number;
  p50: number;
  p99: number;
}

/**
 * Publishes n messages and waits until every subscriber has all of them. At most
 * WINDOW messages are in flight: sent but not yet received by every subscriber
 * (or not yet settled by the mode). Without the bound a fire-and-forget
 * publisher outruns the consumers and the broker's queues grow until latency
 * is just queue length; with it we measure the sustained rate.
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
  batch.onReceive = nudge;
  const waitUntil = async (ready: () => boolean) => {
    while (!ready() && failure === undefined) await new Promise<void>((resolve) => (wake = resolve));
  };
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
  current = undefined;
  const sorted = batch.latencies.sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return {
    throughput: (n / (batch.lastReceived - started)) * 1000,
    publishRate: (n / (published - started)) * 1000,
    p50: at(0.5),
    p99: at(0.99),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function row(label: string, r: Result): string {
  const num = (v: number, digits: number) => v.toFixed(digits).padStart(10);
  return `${label.padEnd(26)}${num(r.throughput, 0)}${num(r.publishRate, 0)}${num(r.p50, 1)}${num(r.p99, 1)}`;
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  const url = new URL(options.url);
  const raw = await rawMode(url);
  const { fire, confirmed, bytes } = await busModes(options.url);
  const modes = [raw, fire, confirmed];
  const results = new Map<Mode, Result[]>(modes.map((m) => [m, []]));
  console.log(`broker ${raw.server} at ${url.host}; ${options.messages} messages per round, ${SUBSCRIBERS} subscribers`);
  console.log(`message bodies: raw ${raw.bytes} bytes, bus envelope ${bytes} bytes`);
  console.log(`${"mode".padEnd(26)}${"msgs/s".padStart(10)}${"publish/s".padStart(10)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}`);
  try {
    for (const mode of modes) await withTimeout(runBatch(mode, WARMUP), ROUND_TIMEOUT_MS, `${mode.label}: warm-up timed out`);
    // Alternate modes so machine noise (the broker shares these cores) hits each of them alike.
    for (let round = 1; round <= ROUNDS; round++) {
      for (const mode of modes) {
        const counts = () => (current ? ` (received per subscriber: ${current.counts.join(", ")} of ${current.n})` : "");
        const result = await withTimeout(runBatch(mode, options.messages), ROUND_TIMEOUT_MS, "").catch((err: Error) => {
          throw new Error(`${mode.label}, round ${round}: ${err.message || `aborted after ${ROUND_TIMEOUT_MS / 1000} s`}${counts()}`);
        });
        results.get(mode)?.push(result);
        console.log(row(`${mode.label} #${round}`, result));
        await sleep(200); // let the broker settle its acks before the next mode starts
      }
    }
  } catch (err) {
    console.log(`ABORTED: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    current = undefined;
    await Promise.all(modes.map((mode) => mode.close().catch(() => {})));
  }
  if (process.exitCode === 1) return;
  const median = (mode: Mode): Result => {
    const sorted = [...(results.get(mode) ?? [])].sort((x, y) => x.throughput - y.throughput);
    return sorted[Math.floor(sorted.length / 2)] as Result;
  };
  console.log(`\nmedian of ${ROUNDS} rounds (msgs/s = messages delivered per second per subscriber)`);
  for (const mode of modes) console.log(row(mode.label, median(mode)));
  const ratio = median(fire).throughput / median(raw).throughput;
  const ratioConfirmed = median(confirmed).throughput / median(raw).throughput;
  console.log(`\nratio (b)/(a) throughput: ${ratio.toFixed(2)} (goal ≥ 0.80)`);
  console.log(`ratio (b')/(a) throughput: ${ratioConfirmed.toFixed(2)} (information: broker receipts, the bus default)`);
  if (ratio < 0.8) console.log(`GOAL MISSED: the bus keeps ${(ratio * 100).toFixed(0)}% of the raw client's throughput, not 80%`);
}

await main();
