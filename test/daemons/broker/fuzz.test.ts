import net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import test from "ava";
import { captureLog } from "../../helpers/capture-log.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { connectRaw, frame, nextMessage, send, subscribe } from "../../helpers/raw-stomp.ts";
import { waitFor } from "../../helpers/test-bus.ts";

// Many connections throw random bytes and mutated frames at the broker at once.
// Afterwards it must still serve a well-behaved client, hold no session of a
// closed connection, have logged no internal error and not have grown its
// memory beyond a bound. FUZZ_SEED=<n> replays a run.

const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const workers = 50;
/** FUZZ_MS=<n> fuzzes longer when hunting; the suite's run stays short. */
const fuzzMs = Number(process.env.FUZZ_MS ?? 6_000);
/** Growth of heap plus Buffer memory, after collection, that the broker may keep from the whole run. */
const memoryBoundBytes = 10 * 1024 * 1024;

/** mulberry32: small, fast and good enough to pick mutations reproducibly. */
function prng(state: number) {
  let s = state >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
    bytes: (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))),
  };
}
type Rng = ReturnType<typeof prng>;

const destinations = ["/topic/fuzz.a", "/topic/fuzz.*", "/topic/fuzz.#", "/queue/fuzz.q", "/queue/fuzz.r", "/topic/fuzz.b.c", "/exchange/bad", "", "/queue/"];
const commands = ["SEND", "SUBSCRIBE", "UNSUBSCRIBE", "ACK", "NACK", "BEGIN", "COMMIT", "ABORT", "DISCONNECT", "CONNECT", "STOMP", "MESSAGE", "RECEIPT", "ERROR", "NOPE"];

function validConnect(rng: Rng): Buffer {
  const headers: Record<string, string> = { "accept-version": rng.pick(["1.2", "1.1", "1.0", "1.0,1.1,1.2", "1.1,1.2"]), host: "/" };
  if (rng.chance(0.5)) headers["heart-beat"] = rng.pick(["0,0", "100,100", "0,500", "1000,0"]);
  if (rng.chance(0.2)) Object.assign(headers, { login: "guest", passcode: "guest" });
  return frame(rng.pick(["CONNECT", "STOMP"]), headers);
}

function validFrame(rng: Rng): Buffer {
  const id = String(rng.int(8));
  const tx = `tx${rng.int(3)}`;
  const body = rng.chance(0.3) ? rng.bytes(rng.int(512)) : Buffer.from("x".repeat(rng.int(300)));
  switch (rng.int(9)) {
    case 0:
    case 1: {
      const headers: Record<string, string | number> = { destination: rng.pick(destinations), "content-length": body.length };
      if (rng.chance(0.2)) headers.transaction = tx;
      if (rng.chance(0.3)) headers.receipt = `r${rng.int(100)}`;
      return frame("SEND", headers, body);
    }
    case 2: {
      const headers: Record<string, string | number> = { id, destination: rng.pick(destinations), ack: rng.pick(["auto", "client", "client-individual"]) };
      if (rng.chance(0.3)) Object.assign(headers, { "x-queue-name": `fuzz-group-${rng.int(3)}`, "x-max-length": 50, durable: "true" });
      if (rng.chance(0.2)) headers["prefetch-count"] = rng.int(5);
      return frame("SUBSCRIBE", headers);
    }
    case 3:
      return frame("UNSUBSCRIBE", { id });
    case 4:
      return frame(rng.pick(["ACK", "NACK"]), { id: `s${rng.int(50)}.${rng.int(20)}`, "message-id": String(rng.int(20)), subscription: id });
    case 5:
      return frame(rng.pick(["BEGIN", "COMMIT", "ABORT"]), { transaction: tx });
    case 6:
      return Buffer.from(rng.pick(["\n", "\r\n", "\n\n\n"]));
    case 7:
      return frame("SEND", { destination: "/topic/fuzz.a" }, "no content-length");
    default:
      return rng.chance(0.05) ? frame("DISCONNECT", { receipt: "bye" }) : frame("SUBSCRIBE", { id: `w${rng.int(30)}`, destination: "/topic/fuzz.#" });
  }
}

/** One of the ways a frame goes wrong in the wild or in an attacker's hands. */
function mutate(rng: Rng, bytes: Buffer): Buffer {
  switch (rng.int(11)) {
    case 0:
      return bytes.subarray(0, rng.int(bytes.length));
    case 1: {
      const out = Buffer.from(bytes);
      for (let i = rng.int(5) + 1; i > 0; i--) out[rng.int(out.length)] = rng.int(256);
      return out;
    }
    case 2: {
      const text = bytes.toString("latin1");
      const lines = text.split("\n");
      const at = 1 + rng.int(Math.max(1, lines.length - 3));
      lines.splice(at, 0, ...Array.from({ length: rng.int(80) + 1 }, () => lines[at] ?? "x:y"));
      return Buffer.from(lines.join("\n"), "latin1");
    }
    case 3:
      return Buffer.from(bytes.toString("latin1").replace(/content-length:\d+/, `content-length:${rng.pick(["99999999999", "70000", "-1", "1e3", " 5", "", "00"])}`), "latin1");
    case 4:
      return Buffer.from(bytes.toString("latin1").replace(/\n([a-z-]+):/, `\n$1:${rng.pick(["\\t", "\\", "\\r", "\\x00", "\\c\\n\\\\"])}`), "latin1");
    case 5: {
      const at = rng.int(bytes.length);
      return Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.int(64) + 1), bytes.subarray(at)]);
    }
    case 6:
      return Buffer.from(bytes.toString("latin1").replace(/\n/g, () => rng.pick(["\n", "\r\n", "\r", ""])), "latin1");
    case 7:
      return Buffer.concat([Buffer.from(`${rng.pick(commands)}\n`), Buffer.from(`h:${"v".repeat(rng.int(20_000))}\n`), bytes]);
    case 8: {
      const out = Buffer.from(bytes);
      out[rng.int(out.length)] = 0;
      return out;
    }
    case 9:
      return Buffer.from(bytes.toString("latin1").replace(/^[A-Z]+/, rng.pick(commands.map((c) => c.toLowerCase()).concat(["", " SEND", "SEND ", "ÄÖÜ"]))), "latin1");
    default:
      return Buffer.concat([bytes, bytes]);
  }
}

interface Tally {
  connections: number;
  errors: number;
  closedByBroker: number;
}

/** One fuzz connection: opens, behaves one of several bad ways for a while, then goes. */
function fuzzConnection(port: number, rng: Rng, tally: Tally, sockets: Set<net.Socket>): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    sockets.add(socket);
    tally.connections++;
    let ours = false;
    let received = "";
    const finish = () => {
      sockets.delete(socket);
      if (!ours) tally.closedByBroker++;
      if (received.includes("ERROR\n")) tally.errors++;
      resolve();
    };
    socket.on("error", () => {});
    socket.on("close", finish);
    socket.on("data", (chunk: Buffer) => {
      // Enough to see whether an ERROR came, without keeping a firehose.
      if (received.length < 4096) received += chunk.toString("latin1");
    });
    const lifetime = 50 + rng.int(800);
    const kind = rng.int(10);
    const stream: Buffer[] = [];
    if (kind === 0) {
      for (let i = rng.int(4) + 1; i > 0; i--) stream.push(rng.bytes(rng.int(4096) + 1));
    } else if (kind === 1) {
      // Silent: the connect timeout must reap it.
    } else if (kind === 2) {
      // Subscribes and never reads: a slow consumer.
      stream.push(frame("CONNECT", { "accept-version": "1.2" }), frame("SUBSCRIBE", { id: "slow", destination: "/topic/fuzz.a" }));
      socket.pause();
    } else {
      stream.push(rng.chance(0.1) ? mutate(rng, validConnect(rng)) : validConnect(rng));
      for (let i = rng.int(30) + 1; i > 0; i--) {
        const f = validFrame(rng);
        stream.push(rng.chance(0.08) ? mutate(rng, f) : f);
        if (rng.chance(0.05)) stream.push(rng.bytes(rng.int(100) + 1));
      }
    }
    const all = Buffer.concat(stream);
    socket.once("connect", async () => {
      // Written in random pieces, so frames split anywhere.
      let at = 0;
      while (at < all.length && !socket.destroyed) {
        const size = rng.chance(0.3) ? rng.int(8) + 1 : rng.int(4096) + 1;
        socket.write(all.subarray(at, at + size));
        at += size;
        if (rng.chance(0.2)) await new Promise((r) => setTimeout(r, rng.int(20)));
      }
      setTimeout(() => {
        ours = true;
        if (rng.chance(0.5)) socket.destroy();
        else {
          socket.end();
          setTimeout(() => socket.destroy(), 500);
        }
      }, lifetime);
    });
  });
}

function collector(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

function retainedBytes(gc: () => void): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

test(`fuzz: ${workers} connections of random and mutated frames; the broker stays up, serves, and stays bounded`, async (t) => {
  t.timeout(40_000 + fuzzMs);
  t.log(`seed ${seed} (replay with FUZZ_SEED=${seed})`);
  // Errors only: the broker warns on every refused login or full queue, and those lines would count as memory.
  const { log, lines } = captureLog("error");
  const broker = await startTestBroker({
    log,
    heartbeatMs: 500,
    connectTimeoutMs: 1_000,
    maxConnections: 500,
    limits: {
      maxFrameBytes: 64 * 1024,
      maxHeaders: 16,
      maxHeaderBytes: 1024,
      maxSubscriptions: 10,
      slowConsumerMessages: 100,
      maxQueueLength: 100,
      maxTransactionFrames: 20,
    },
  });
  t.teardown(() => broker.close());
  const gc = collector();

  // A client that behaves, connected throughout: every ping it sends must come back.
  const { client: monitor } = await connectRaw(broker.port, { "accept-version": "1.2", "heart-beat": "0,0" });
  t.teardown(() => monitor.destroy());
  await subscribe(monitor, { id: "m", destination: "/topic/monitor" });

  const sockets = new Set<net.Socket>();
  const tally: Tally = { connections: 0, errors: 0, closedByBroker: 0 };
  const fuzz = async (ms: number) => {
    const deadline = Date.now() + ms;
    await Promise.all(
      Array.from({ length: workers }, async (_, worker) => {
        const own = prng(seed ^ (worker * 0x9e3779b9));
        while (Date.now() < deadline) await fuzzConnection(broker.port, own, tally, sockets);
      }),
    );
  };
  // A first round warms up code paths and pools, so the baseline is not the cold process.
  await fuzz(1_000);
  await waitFor(() => broker.stats().connections === 1, 10_000, "the warm-up connections to go");
  const baseline = retainedBytes(gc);

  let pings = 0;
  let pingFailure: unknown;
  const pinging = (async () => {
    const end = Date.now() + fuzzMs;
    while (Date.now() < end) {
      const body = `ping ${++pings}`;
      try {
        await send(monitor, "/topic/monitor", body);
        const echo = await nextMessage(monitor, 10_000);
        if (echo.body.toString() !== body) throw new Error(`expected ${body}, got ${echo.body.toString()}`);
      } catch (err) {
        pingFailure = err;
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await Promise.all([fuzz(fuzzMs), pinging]);
  t.is(pingFailure, undefined, "the well-behaved client was served throughout");
  t.true(pings >= 10, `only ${pings} pings went round in ${fuzzMs} ms`);
  // Reap what a fuzzer may have left half-open, then let the broker notice.
  for (const socket of sockets) socket.destroy();
  await waitFor(() => broker.stats().connections === 1, 15_000, `sessions of closed connections to go (still ${broker.stats().connections})`);
  t.is(broker.stats().subscriptions, 1, "only the monitor's subscription is left");

  // A new well-behaved client: topic, queue and group all work.
  const { client: fresh } = await connectRaw(broker.port, { "accept-version": "1.2" });
  t.teardown(() => fresh.destroy());
  await subscribe(fresh, { id: "t", destination: "/topic/after" });
  await subscribe(fresh, { id: "q", destination: "/queue/after", ack: "client-individual" });
  await subscribe(fresh, { id: "g", destination: "/topic/after.group", "x-queue-name": "after-group" });
  await send(fresh, "/topic/after", "topic");
  await send(fresh, "/queue/after", "queue");
  await send(fresh, "/topic/after.group", "group");
  const got = [await nextMessage(fresh), await nextMessage(fresh), await nextMessage(fresh)].map((m) => m.body.toString()).sort();
  t.deepEqual(got, ["group", "queue", "topic"]);
  t.is(broker.stats().connections, 2, "the monitor and the fresh client, nothing else");

  const retained = retainedBytes(gc);
  const growth = retained - baseline;
  const counters = broker.stats().counters;
  t.log(
    `${tally.connections} connections, ${tally.errors} saw ERROR, ${tally.closedByBroker} closed by the broker; ` +
      `broker: ${counters.protocolErrors} protocol errors, ${counters.messagesIn} messages in, ${counters.slowConsumers} slow consumers, ` +
      `${broker.stats().queues.length} queues; memory ${(baseline / 2 ** 20).toFixed(1)} MiB -> ${(retained / 2 ** 20).toFixed(1)} MiB`,
  );
  t.true(growth < memoryBoundBytes, `retained memory grew by ${(growth / 2 ** 20).toFixed(1)} MiB; the bound is ${memoryBoundBytes / 2 ** 20} MiB (seed ${seed})`);
  // The run reached the broker's error paths and its normal ones.
  t.true(tally.connections >= workers * 3, `only ${tally.connections} connections`);
  t.true(counters.protocolErrors > 50, "the broker refused malformed input");
  t.true(counters.messagesIn > 50, "valid frames got through");
  t.true(tally.errors > 50, "refusals came as ERROR frames");
  const internal = lines.filter((line) => line.msg === "broker error while handling a frame");
  t.deepEqual(internal, [], `no frame made the broker fail internally (seed ${seed})`);
});
