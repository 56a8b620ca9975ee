import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import type { Logger } from "pino";
import { type AnonymousPolicy, Authenticator } from "./authenticator.ts";
import { type BrokerGauges, BrokerMetrics, metricsText } from "./broker-metrics.ts";
import type { MessageQueue } from "./message-queue.ts";
import { Router } from "./router.ts";
import { type BrokerContext, Session, type SessionLimits } from "./session.ts";
import { encodeFrame } from "./stomp-frame.ts";

export interface BrokerOptions {
  host: string;
  port: number;
  /** PEM files; both set means the listener speaks TLS. */
  tls?: { cert: string; key: string };
  users: readonly string[];
  anonymous: AnonymousPolicy;
  heartbeatMs: number;
  connectTimeoutMs: number;
  maxConnections: number;
  limits: SessionLimits;
  /** Where /metrics is served; absent: not served. */
  metrics?: { host: string; port: number };
  /** The CONNECTED `server` header. */
  server: string;
  log: Logger;
}

export interface RunningBroker {
  /** stomp://host:port (or stomp+ssl://) as clients should use it. */
  url: string;
  port: number;
  metricsUrl?: string;
  stats(): BrokerGauges & { counters: BrokerMetrics };
  metrics(): string;
  /** Closes the listener and every connection. */
  close(): Promise<void>;
}

export const defaultLimits: SessionLimits = {
  maxFrameBytes: 4 * 1024 * 1024,
  maxHeaders: 64,
  maxHeaderBytes: 8192,
  maxSubscriptions: 1000,
  slowConsumerMessages: 10_000,
  maxQueueLength: 100_000,
  maxQueues: 1000,
  maxTransactionFrames: 10_000,
};

/**
 * The embedded broker: one STOMP listener, state in memory. Nothing a client
 * sends can throw out of here; the worst a client can do is be disconnected.
 */
export async function startBroker(options: BrokerOptions): Promise<RunningBroker> {
  const { log } = options;
  const metrics = new BrokerMetrics();
  const router = new Router();
  const sessions = new Set<Session>();
  /** Connections turned away at maxConnections, until their ERROR is read; close() must not wait 2 s for them. */
  const refused = new Set<net.Socket>();
  let dropWarned = 0;
  const context: BrokerContext = {
    router,
    metrics,
    auth: new Authenticator(options.users, options.anonymous),
    limits: options.limits,
    heartbeatMs: options.heartbeatMs,
    connectTimeoutMs: options.connectTimeoutMs,
    server: options.server,
    log,
    queueHooks: {
      onDrop(queue: MessageQueue) {
        metrics.dropped++;
        // One line per queue per minute at most: a full queue drops on every publish.
        const now = Date.now();
        if (now - dropWarned > 60_000) {
          dropWarned = now;
          log.warn({ queue: queue.name, maxLength: queue.args.maxLength }, "queue full: dropping its oldest messages (nobody is consuming fast enough)");
        }
      },
      onFull() {},
      onUnused(queue: MessageQueue) {
        log.debug({ queue: queue.name }, "queue unused: deleted");
        router.delete(queue);
      },
    },
  };
  let sessionSeq = 0;
  const accept = (socket: net.Socket) => {
    if (sessions.size >= options.maxConnections) {
      metrics.connectionsRefused++;
      log.warn({ remote: socket.remoteAddress, limit: options.maxConnections }, "refused a connection: too many connections");
      socket.on("error", () => {});
      refused.add(socket);
      socket.once("close", () => refused.delete(socket));
      socket.end(encodeFrame("ERROR", { message: "too many connections", "content-type": "text/plain" }, `this broker allows ${options.maxConnections} connections (broker.maxConnections)\n`));
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    metrics.connectionsTotal++;
    const session = new Session(`s${++sessionSeq}`, socket, context, (closed) => sessions.delete(closed));
    sessions.add(session);
  };
  // A bigger write buffer than Node's default lets one tick's fan-out leave in fewer, larger writes.
  const serverOptions = { highWaterMark: 256 * 1024, noDelay: true };
  const server = options.tls
    ? tls.createServer({ ...serverOptions, cert: readFileSync(options.tls.cert), key: readFileSync(options.tls.key) }, accept)
    : net.createServer(serverOptions, accept);
  server.on("tlsClientError", (err: Error) => {
    metrics.connectionsRefused++;
    log.debug({ err }, "TLS handshake failed");
  });
  server.maxConnections = options.maxConnections * 2;
  await listen(server, options.port, options.host);
  const port = (server.address() as AddressInfo).port;
  const scheme = options.tls ? "stomp+ssl" : "stomp";
  const gauges = (): BrokerGauges => {
    let subscriptions = 0;
    for (const session of sessions) subscriptions += session.subscriptionCount;
    return {
      connections: sessions.size,
      subscriptions,
      topics: router.topicCount,
      queues: [...router.queues.values()].map((queue) => ({ name: queue.name, depth: queue.depth, consumers: queue.consumers.length })),
    };
  };
  let metricsServer: http.Server | undefined;
  let metricsUrl: string | undefined;
  if (options.metrics) {
    metricsServer = http.createServer((request, response) => {
      if (request.method !== "GET" || request.url?.split("?")[0] !== "/metrics") {
        response.writeHead(404, { "content-type": "text/plain" }).end("not found: the broker serves GET /metrics\n");
        return;
      }
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText(metrics, gauges()));
    });
    try {
      await listen(metricsServer, options.metrics.port, options.metrics.host);
    } catch (err) {
      server.close();
      throw err;
    }
    metricsUrl = `http://${urlHost(options.metrics.host)}:${(metricsServer.address() as AddressInfo).port}/metrics`;
  }
  log.info({ url: `${scheme}://${urlHost(options.host)}:${port}`, metrics: metricsUrl }, "broker listening");
  return {
    url: `${scheme}://${urlHost(options.host)}:${port}`,
    port,
    metricsUrl,
    stats: () => ({ ...gauges(), counters: metrics }),
    metrics: () => metricsText(metrics, gauges()),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of [...sessions]) session.destroy();
      for (const socket of refused) socket.destroy();
      metricsServer?.closeAllConnections();
      await Promise.all([closed, metricsServer ? new Promise<void>((resolve) => metricsServer.close(() => resolve())) : undefined]);
    },
  };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === "EADDRINUSE"
          ? new Error(`${host}:${port} is already in use: stop what listens there, or choose another port`)
          : err,
      );
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "::") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}
