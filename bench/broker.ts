// bench/broker: the embedded broker against RabbitMQ's STOMP plugin and
// ActiveMQ's STOMP connector, the same workloads through the same client in
// one run. Each broker runs in its own process; the clients (one publisher,
// N consumers, each on its own connection) share this one.
// docs/benchmarks.md explains the method and holds measured figures.
import { randomUUID } from "node:crypto";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { encodeFrame } from "../daemons/broker/stomp-frame.ts";
import { listeningPid, machineCpuSeconds, processCpuSeconds } from "./process-stats.ts";
import { type EmbeddedBrokerProcess, spawnEmbeddedBroker } from "./spawn-embedded-broker.ts";
import { StompBenchClient, withTimeout } from "./stomp-bench-client.ts";

/** Most messages published and not yet received by every consumer that is to get them; the same for every broker. */
const WINDOW = 1_000;
/** Unacknowledged messages per client-individual consumer: prefetch-count (RabbitMQ, embedded) and activemq.prefetchSize. */
const PREFETCH = 100;
const MESSAGE_BYTES = 512;
/** Messages each broker gets before each measured round, for its JIT and its connection setup. */
const WARMUP = 5_000;
const ROUND_TIMEOUT_MS = 180_000;

const brokerNames = ["embedded", "RabbitMQ", "ActiveMQ"] as const;
type BrokerName = (typeof brokerNames)[number];

interface Target {
  name: BrokerName;
  url: URL;
  /** The broker's process, for its CPU time; undefined when /proc does not show it. */
  pid?: number;
  server: string;
}

interface Workload {
  /** What --workloads calls it. */
  name: "topic" | "queue";
  label: string;
  consumers: number;
  /** Every consumer gets every message (a topic), or each message goes to one of them (a queue). */
  fanout: boolean;
  destination(id: string): string;
  subscribe: Record<string, string>;
  send: Record<string, string>;
}

// RabbitMQ declares a /queue/ destination on SEND and on SUBSCRIBE with these
// properties and refuses a declaration that differs; without them every run
// would leave a durable queue behind. The others ignore them, and every broker
// copies them into each MESSAGE alike.
const transientQueue = { durable: "false", "auto-delete": "true", exclusive: "false" };

const workloads: Workload[] = [
  {
    name: "topic",
    label: "topic 1→10, auto ack",
    consumers: 10,
    fanout: true,
    destination: (id) => `/topic/bench-${id}`,
    subscribe: { ack: "auto" },
    send: {},
  },
  {
    name: "queue",
    label: "queue 4 consumers, ACK each",
    consumers: 4,
    fanout: false,
    destination: (id) => `/queue/bench-${id}`,
    subscribe: { ack: "client-individual", "prefetch-count": String(PREFETCH), "activemq.prefetchSize": String(PREFETCH), ...transientQueue },
    send: transientQueue,
  },
];

interface Result {
  deliveries: number;
  throughput: number;
  p50: number;
  p99: number;
  /** CPU the broker's process used, in cores (1.00 = one core busy all round). */
  brokerCores?: number;
  /** The same for this process: publisher and consumers. */
  clientCores: number;
  /** Every other process on the machine (the idle brokers, anything else running). */
  otherCores?: number;
  /** Cores the hypervisor gave to other guests while this one wanted them. */
  stealCores: number;
}

function readOptions(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      messages: { type: "string" },
      brokers: { type: "string" },
      workloads: { type: "string" },
      rabbitmq: { type: "string" },
      activemq: { type: "string" },
    },
  });
  const messages = Number(values.messages ?? 100_000);
  if (!Number.isInteger(messages) || messages < 1 || messages > 10_000_000) {
    throw new Error(`--messages "${values.messages}" is not a count: give a whole number from 1 to 10000000`);
  }
  const wanted = (values.brokers ?? "embedded,rabbitmq,activemq").split(",").map((name) => name.trim().toLowerCase());
  const brokers = brokerNames.filter((name) => wanted.includes(name.toLowerCase()));
  const unknown = wanted.filter((name) => !brokerNames.some((known) => known.toLowerCase() === name));
  if (unknown.length > 0 || brokers.length === 0) throw new Error(`--brokers "${values.brokers}": name some of embedded, rabbitmq, activemq`);
  const wantedWorkloads = (values.workloads ?? "topic,queue").split(",").map((name) => name.trim());
  const chosen = workloads.filter((workload) => wantedWorkloads.includes(workload.name));
  if (chosen.length !== wantedWorkloads.length) throw new Error(`--workloads "${values.workloads}": name some of topic, queue`);
  return {
    messages,
    brokers,
    workloads: chosen,
    rabbitmq: new URL(values.rabbitmq ?? env.BENCH_RABBITMQ_URL ?? "stomp://guest:guest@127.0.0.1:61613"),
    activemq: new URL(values.activemq ?? env.BENCH_ACTIVEMQ_URL ?? "stomp://admin:admin@127.0.0.1:61614"),
  };
}

/**
 * Publishes n messages and waits until every one has reached the consumers it
 * is for. The body carries the send time and a sequence number; the publisher
 * keeps at most WINDOW messages in flight (published, not yet received by all),
 * so no broker queues without bound and latency is measured at a sustained rate.
 */
async function runRound(target: Target, workload: Workload, n: number): Promise<Result> {
  const destination = workload.destination(randomUUID());
  const clients: StompBenchClient[] = [];
  try {
    for (let i = 0; i <= workload.consumers; i++) clients.push(await StompBenchClient.connect(target.url, i === 0 ? "publisher" : `consumer ${i}`));
    const [publisher, ...consumers] = clients as [StompBenchClient, ...StompBenchClient[]];
    const counts = new Uint32Array(consumers.length);
    const seen = workload.fanout ? undefined : new Uint8Array(n);
    const latencies = new Float64Array(workload.fanout ? n * consumers.length : n * 2);
    let deliveries = 0;
    let distinct = 0;
    let lastReceived = 0;
    let published = 0;
    /** Set once every subscription is confirmed: a RECEIPT arriving earlier must not start the publisher. */
    let started = false;
    let blocked = false;
    let pumpQueued = false;
    let finish = () => {};
    let abort = (_err: Error) => {};
    const finished = new Promise<void>((resolve, reject) => {
      finish = resolve;
      abort = reject;
    });
    finished.catch(() => {}); // a failure before the round starts is reported through the race below
    const received = () => {
      if (!workload.fanout) return distinct;
      let least = n;
      for (const count of counts) least = Math.min(least, count);
      return least;
    };
    const template = encodeFrame("SEND", { destination, ...workload.send }, Buffer.alloc(MESSAGE_BYTES, "x"));
    const bodyAt = template.length - 1 - MESSAGE_BYTES;
    const pump = () => {
      pumpQueued = false;
      const room = Math.min(n - published, WINDOW - (published - received()));
      if (blocked || room <= 0) return;
      const batch = Buffer.allocUnsafe(room * template.length);
      for (let i = 0; i < room; i++) {
        const at = i * template.length;
        template.copy(batch, at);
        batch.writeDoubleLE(performance.now(), at + bodyAt);
        batch.writeUInt32LE(published++, at + bodyAt + 8);
      }
      if (!publisher.write(batch)) {
        blocked = true;
        void publisher.whenDrained().then(() => {
          blocked = false;
          pump();
        });
      }
    };
    for (const [index, consumer] of consumers.entries()) {
      consumer.onMessage = (buf, bodyStart, bodyLength, ackStart, ackEnd) => {
        const now = performance.now();
        if (ackStart !== -1 && !workload.fanout) consumer.ack(buf, ackStart, ackEnd);
        if (bodyLength !== MESSAGE_BYTES) return;
        const seq = buf.readUInt32LE(bodyStart + 8);
        if (seq >= n) return;
        if (deliveries < latencies.length) latencies[deliveries] = now - buf.readDoubleLE(bodyStart);
        deliveries++;
        counts[index] = (counts[index] as number) + 1;
        lastReceived = now;
        if (seen && seen[seq] === 0) {
          seen[seq] = 1;
          distinct++;
        }
      };
      consumer.onChunk = () => {
        if (!started) return;
        if (received() === n) finish();
        else if (!pumpQueued) {
          pumpQueued = true;
          setImmediate(pump);
        }
      };
    }
    for (const client of clients) client.onFailure = abort;
    await Promise.race([finished, Promise.all(consumers.map((consumer, i) => consumer.request("SUBSCRIBE", { id: `s${i}`, destination, ...workload.subscribe })))]);
    const clientCpu = process.cpuUsage();
    const brokerCpu = target.pid === undefined ? undefined : processCpuSeconds(target.pid);
    const machineCpu = machineCpuSeconds();
    const startedAt = performance.now();
    started = true;
    pump();
    await withTimeout(finished, ROUND_TIMEOUT_MS, `no result after ${ROUND_TIMEOUT_MS / 1000} s`).catch((err: Error) => {
      throw new Error(`${err.message} (published ${published} of ${n}; received per consumer: ${counts.join(", ")})`);
    });
    const seconds = (lastReceived - startedAt) / 1000;
    const brokerCpuAfter = target.pid === undefined ? undefined : processCpuSeconds(target.pid);
    const clientUsed = process.cpuUsage(clientCpu);
    const machineCpuAfter = machineCpuSeconds();
    const sorted = latencies.subarray(0, Math.min(deliveries, latencies.length)).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    const brokerCores = brokerCpu === undefined || brokerCpuAfter === undefined ? undefined : (brokerCpuAfter - brokerCpu) / seconds;
    const clientCores = (clientUsed.user + clientUsed.system) / 1e6 / seconds;
    return {
      deliveries,
      throughput: deliveries / seconds,
      p50: at(0.5),
      p99: at(0.99),
      brokerCores,
      clientCores,
      otherCores: brokerCores === undefined ? undefined : Math.max(0, (machineCpuAfter.busy - machineCpu.busy) / seconds - brokerCores - clientCores),
      stealCores: (machineCpuAfter.steal - machineCpu.steal) / seconds,
    };
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

const columns = ["deliveries", "msgs/s", "p50 ms", "p99 ms", "broker", "client", "other", "steal", "broker µs/msg"];

function row(workload: string, broker: string, r: Result): string {
  const cells = [String(r.deliveries), r.throughput.toFixed(0), r.p50.toFixed(1), r.p99.toFixed(1)];
  const cores = [r.brokerCores, r.clientCores, r.otherCores, r.stealCores].map((cores) => cores?.toFixed(2) ?? "n/a");
  const perMessage = r.brokerCores === undefined ? "n/a" : ((r.brokerCores * 1e6) / r.throughput).toFixed(1);
  return `${workload.padEnd(29)}${broker.padEnd(10)}${cells.map((cell) => cell.padStart(11)).join("")}${cores.map((cell) => cell.padStart(7)).join("")}${perMessage.padStart(15)}`;
}

async function connectTargets(options: ReturnType<typeof readOptions>, embedded: () => Promise<EmbeddedBrokerProcess>): Promise<Target[]> {
  const targets: Target[] = [];
  for (const name of options.brokers) {
    let url: URL;
    let pid: number | undefined;
    if (name === "embedded") {
      const broker = await embedded();
      url = broker.url;
      pid = broker.pid;
    } else {
      url = name === "RabbitMQ" ? options.rabbitmq : options.activemq;
      pid = url.hostname === "127.0.0.1" || url.hostname === "localhost" ? listeningPid(Number(url.port || 61613)) : undefined;
    }
    const probe = await StompBenchClient.connect(url, `${name} probe`).catch((err: Error) => {
      throw new Error(`${err.message}: is ${name} listening at ${url.host}? (see docs/brokers.md, or leave it out with --brokers)`);
    });
    await probe.close();
    targets.push({ name, url, pid, server: probe.server });
  }
  return targets;
}

async function main(): Promise<void> {
  const options = readOptions(process.argv.slice(2));
  let embedded: EmbeddedBrokerProcess | undefined;
  const results = new Map<string, Result>();
  let targets: Target[];
  try {
    targets = await connectTargets(options, async () => (embedded = await spawnEmbeddedBroker()));
    const cpu = cpus();
    console.log(`${options.messages} messages of ${MESSAGE_BYTES} bytes per round, after ${WARMUP} to warm up; at most ${WINDOW} in flight end to end;`);
    console.log(`queue consumers: client-individual, one ACK per message, prefetch ${PREFETCH}. One client process (this one), STOMP 1.2.`);
    console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? "CPU"}, Node ${process.version}; brokers and clients share it (load average ${loadavg()[0]?.toFixed(2)} at start).`);
    for (const target of targets) console.log(`  ${target.name.padEnd(9)} ${target.server} at ${target.url.host}, pid ${target.pid ?? "not visible"}`);
    const header = columns.map((c, i) => c.padStart(i < 4 ? 11 : i < 8 ? 7 : 15)).join("");
    console.log(`\n${" ".repeat(39 + 44)}${"cpu cores used".padStart(28)}`);
    console.log(`${"workload".padEnd(29)}${"broker".padEnd(10)}${header}`);
    for (const workload of options.workloads) {
      for (const target of targets) {
        const fail = (err: Error) => {
          const log = target.name === "embedded" && embedded ? `\nembedded broker's last output:\n${embedded.output()}` : "";
          throw new Error(`${workload.label}, ${target.name}: ${err.message}${log}`);
        };
        await runRound(target, workload, Math.min(WARMUP, options.messages)).catch(fail);
        await sleep(300);
        const result = await runRound(target, workload, options.messages).catch(fail);
        results.set(`${workload.label}/${target.name}`, result);
        console.log(row(workload.label, target.name, result));
        await sleep(300);
      }
    }
  } finally {
    await embedded?.stop();
  }
  console.log("\nmsgs/s: deliveries to all consumers per second. cpu: cores busy over the round (the machine has 2): the broker's");
  console.log("process, this client process, every other process, and steal (time the hypervisor gave to other guests).");
  console.log("broker µs/msg: the broker's CPU time per delivery (for the queue, that includes the SEND and the ACK).");
  const verdicts: string[] = [];
  for (const workload of options.workloads) {
    const mine = results.get(`${workload.label}/embedded`);
    if (!mine) continue;
    for (const other of ["RabbitMQ", "ActiveMQ"] as const) {
      const theirs = results.get(`${workload.label}/${other}`);
      if (!theirs) continue;
      const throughput = mine.throughput / theirs.throughput;
      const p99 = mine.p99 / theirs.p99;
      console.log(`${workload.label.padEnd(29)}embedded/${other.padEnd(9)} throughput ${throughput.toFixed(2)}, p99 ${p99.toFixed(2)}`);
      if (other === "RabbitMQ") verdicts.push(`${workload.label}: ${throughput >= 1 && p99 <= 1 ? "met" : "MISSED"}`);
    }
  }
  if (verdicts.length > 0) console.log(`\ngoal: embedded throughput ≥ RabbitMQ's and p99 ≤ RabbitMQ's. ${verdicts.join("; ")}`);
}

await main().catch((err: Error) => {
  console.log(`ABORTED: ${err.message}`);
  process.exitCode = 1;
});
