import { randomUUID } from "node:crypto";
import pino, { type Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import { type BusOptions, createBus, parseBusUrls } from "../../shared/bus/create-bus.ts";
import { amqpTransport } from "../../shared/bus/amqp-transport.ts";
import { memoryTransport } from "../../shared/bus/memory-transport.ts";
import { stompTransport } from "../../shared/bus/stomp-transport.ts";
import type { Transport, TransportOptions } from "../../shared/bus/transport.ts";

export const silent: Logger = pino({ level: "silent" });

/** Short timeouts so a broken case fails in seconds, not minutes. */
export function testBusOptions(url: string, prefix: string, overrides: Partial<BusOptions> = {}): BusOptions {
  return {
    url,
    prefix,
    source: { component: "test", host: "test-host" },
    log: silent,
    publishTimeoutMs: 10_000,
    handlerTimeoutMs: 5_000,
    confirm: true,
    prefetch: 50,
    heartbeatMs: 2_000,
    connectTimeoutMs: 5_000,
    reconnect: { initialMs: 100, maxMs: 1_000 },
    groupMaxLength: 1_000,
    // Group queues the tests leave behind disappear from the broker on their own.
    groupExpiryMs: 60_000,
    tls: { insecure: false },
    ...overrides,
  };
}

export function testBus(url: string, prefix: string, overrides: Partial<BusOptions> = {}): Bus {
  return createBus(testBusOptions(url, prefix, overrides));
}

export function uniquePrefix(): string {
  return `test-${randomUUID().slice(0, 8)}`;
}

/** Transport options with the test suite's short timeouts. */
export function testTransportOptions(urls: URL[], overrides: Partial<TransportOptions> = {}): TransportOptions {
  return {
    urls,
    heartbeatMs: 2_000,
    reconnect: { initialMs: 100, maxMs: 1_000 },
    groupMaxLength: 1_000,
    groupExpiryMs: 60_000,
    connectTimeoutMs: 5_000,
    tls: { insecure: false },
    log: silent,
    ...overrides,
  };
}

/** A bare transport, for sending what the bus itself would refuse to publish. */
export function rawTransport(url: string): Transport {
  const { protocol, urls } = parseBusUrls(url);
  const options = testTransportOptions(urls);
  const transport = { memory: memoryTransport, stomp: stompTransport, amqp: amqpTransport }[protocol](options);
  transport.start();
  return transport;
}

export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves once the transport is connected. */
export function transportReady(transport: Transport, timeoutMs = 10_000): Promise<void> {
  if (transport.state === "connected") return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("transport did not connect")), timeoutMs);
    transport.onState((change) => {
      if (change.state === "connected") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}
