// The agents without the conductor: the bench signs one request per batch
// itself (target: the batch's identities, as the conductor targets them),
// publishes it, and waits for every host of the batch on deploy.results
// before the next. It is the floor a conductor's rollout can approach, and
// the way to check the swarm before a conductor exists. It also watches
// hosts.alive, to know when every agent is up.
import { randomUUID } from "node:crypto";
import type { KeyObject } from "node:crypto";
import pino from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import { createBus } from "../../shared/bus/create-bus.ts";
import { readSigningKey, signDeployRequest } from "../../shared/deploy-signature.ts";
import type { BodyOf } from "../../shared/messages/index.ts";
import type { BenchTag } from "./bench-repo.ts";
import { benchApp } from "./host-dirs.ts";
import type { HostTiming } from "./rollout-figures.ts";

type Result = BodyOf<"deploy.results">;

interface Waiting {
  deployId: string;
  hosts: Set<string>;
  results: Map<string, { result: Result; at: number }>;
  done(): void;
}

export class DirectRollout {
  readonly bus: Bus;
  readonly key: KeyObject;
  /** Hosts whose last hosts.alive was startup or alive. */
  readonly alive = new Set<string>();
  /** Step durations per host of the deploy being watched, from deploy.progress. */
  #steps = new Map<string, Record<string, number>>();
  /** First step started and last step ended per host, by the messages' times. */
  #span = new Map<string, { first: number; last: number }>();
  #started = new Map<string, number>();
  #watching: string | undefined;
  #waiting: Waiting | undefined;

  constructor(bus: Bus, key: KeyObject) {
    this.bus = bus;
    this.key = key;
  }

  static async start(url: string, prefix: string, keyFile: string): Promise<DirectRollout> {
    const bus = createBus({
      url,
      prefix,
      source: { component: "bench-rollout", host: "bench" },
      log: pino({ level: "warn" }, pino.destination(2)),
      publishTimeoutMs: 30_000,
      handlerTimeoutMs: 60_000,
      confirm: true,
      prefetch: 1_000,
      heartbeatMs: 10_000,
      connectTimeoutMs: 10_000,
      reconnect: { initialMs: 500, maxMs: 5_000 },
      groupMaxLength: 10_000,
      groupExpiryMs: 3_600_000,
      tls: { insecure: false },
    });
    const rollout = new DirectRollout(bus, readSigningKey(keyFile));
    try {
      await bus.subscribe("hosts.alive", (message) => {
        if (message.body.event === "shutdown") rollout.alive.delete(message.body.host);
        else rollout.alive.add(message.body.host);
      });
      await bus.subscribe("deploy.progress", (message) => rollout.#onProgress(message.body, Date.parse(message.time)));
      await bus.subscribe("deploy.results", (message) => rollout.#onResult(message.body));
    } catch (err) {
      await bus.close({ graceMs: 0 });
      throw err;
    }
    return rollout;
  }

  async waitForHosts(hosts: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (hosts.some((host) => !this.alive.has(host))) {
      if (Date.now() > deadline) {
        const missing = hosts.filter((host) => !this.alive.has(host));
        throw new Error(`no hosts.alive from ${missing.length} agents within ${timeoutMs} ms (${missing.slice(0, 5).join(", ")}...)`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Deploys the tag to the hosts, batch after batch; throws unless every host succeeded. */
  async run(tag: BenchTag, hosts: readonly string[], batchSize: number, timeoutMs = 300_000): Promise<{ wallMs: number; timings: HostTiming[] }> {
    // A UUID, as the conductor's: it is also the correlationId of every message of the deploy.
    const deployId = randomUUID();
    this.#watching = deployId;
    this.#steps = new Map();
    this.#span = new Map();
    this.#started = new Map();
    const timings: HostTiming[] = [];
    const started = Date.now();
    for (let batch = 0; batch * batchSize < hosts.length; batch++) {
      const members = hosts.slice(batch * batchSize, (batch + 1) * batchSize);
      const results = new Map<string, { result: Result; at: number }>();
      let timer: NodeJS.Timeout | undefined;
      const answered = new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`batch ${batch}: ${members.length - results.size} of ${members.length} hosts did not answer within ${timeoutMs} ms`)), timeoutMs);
        this.#waiting = { deployId, hosts: new Set(members), results, done: resolve };
      });
      const requestedAt = Date.now();
      try {
        const request = signDeployRequest(
          {
            deployId,
            action: "deploy",
            app: benchApp,
            environment: "production",
            ref: `refs/tags/${tag.tag}`,
            sha: tag.sha,
            target: { identities: members },
            batch,
            ttl: 60,
            actor: "bench",
          },
          this.key,
        );
        await this.bus.publish("deploy.requests", request, { correlationId: deployId });
        await answered;
      } finally {
        clearTimeout(timer);
        this.#waiting = undefined;
      }
      for (const [host, { result, at }] of results) {
        if (result.outcome !== "succeeded") throw new Error(`${host}: ${result.outcome}${result.failedStep ? ` at ${result.failedStep}` : ""}: ${result.reason}`);
        timings.push({ host, batch, requestedAt, finishedAt: at, durationMs: result.durationMs, steps: {} });
      }
    }
    const wallMs = Date.now() - started;
    // The last progress messages are published before each result, so they are all in by now.
    for (const timing of timings) {
      timing.steps = this.#steps.get(timing.host) ?? {};
      const span = this.#span.get(timing.host);
      if (span) Object.assign(timing, { firstStepAt: span.first, lastStepAt: span.last });
    }
    this.#watching = undefined;
    return { wallMs, timings };
  }

  // Step times as the conductor takes them (succeeded message time − started message time), so both rows mean the same.
  #onProgress(body: BodyOf<"deploy.progress">, time: number): void {
    if (body.deployId !== this.#watching) return;
    const span = this.#span.get(body.host);
    if (body.state === "started") {
      this.#started.set(`${body.host}/${body.step}`, time);
      if (span === undefined || time < span.first) this.#span.set(body.host, { first: time, last: span?.last ?? time });
      return;
    }
    if (body.state !== "succeeded" && body.state !== "skipped") return;
    if (span !== undefined && time > span.last) span.last = time;
    const started = this.#started.get(`${body.host}/${body.step}`);
    if (body.state !== "succeeded" || started === undefined) return;
    const steps = this.#steps.get(body.host) ?? {};
    steps[body.step] = time - started;
    this.#steps.set(body.host, steps);
  }

  #onResult(body: Result): void {
    const waiting = this.#waiting;
    if (waiting === undefined || body.deployId !== waiting.deployId || !waiting.hosts.has(body.host)) return;
    waiting.results.set(body.host, { result: body, at: Date.now() });
    if (waiting.results.size === waiting.hosts.size) waiting.done();
  }

  close(): Promise<void> {
    return this.bus.close({ graceMs: 0 });
  }
}
