import type { AddressInfo } from "node:net";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import type { Logger } from "pino";
import { Registry, collectDefaultMetrics } from "prom-client";

export interface HttpOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  log: Logger;
  /** Adds the daemon's own routes; /metrics and /healthz are already there. */
  routes(app: Express): void;
  /** The daemon's metrics; served with Node's process metrics at GET /metrics. */
  registry?: Registry;
}

export interface HttpServer {
  url: string;
  port: number;
  registry: Registry;
  /** Stops accepting, lets requests in progress finish for up to graceMs, then cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

/**
 * The one way a daemon serves HTTP: express with the daemon's routes, GET
 * /metrics (Prometheus text) and GET /healthz, errors as JSON with the right
 * 4xx (a body too large is 413, broken JSON 400), never a stack trace.
 */
export async function serveHttp(options: HttpOptions): Promise<HttpServer> {
  const registry = options.registry ?? new Registry();
  // A registry that served before (a daemon restarted in the same process) has them already, and registering twice throws.
  if (registry.getSingleMetric("process_cpu_user_seconds_total") === undefined) collectDefaultMetrics({ register: registry });
  const app = express();
  app.disable("x-powered-by");
  // Responses not yet sent when close() is called, so they can tell keep-alive clients to go.
  let closing = false;
  const unsent = new Set<Response>();
  app.use((_req, res, next) => {
    if (closing) res.setHeader("Connection", "close");
    unsent.add(res);
    res.once("close", () => unsent.delete(res));
    next();
  });
  app.get("/healthz", (_req, res) => {
    res.type("text/plain").send("ok\n");
  });
  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  options.routes(app);
  app.use((req, res) => {
    res.status(404).json({ error: `no route for ${req.method} ${req.path}` });
  });
  app.use((err: Error & { status?: number; type?: string }, req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) options.log.error({ err, path: req.path }, "request failed");
    // Too late for a JSON error: cut the connection (as express's own handler would, minus its console output) so the client is not left waiting.
    if (res.headersSent) {
      req.socket.destroy();
      return;
    }
    const message =
      err.type === "entity.too.large" ? "request body too large" : err.type === "entity.parse.failed" ? `body is not valid JSON: ${err.message}` : status === 500 ? "internal error (see the daemon's log)" : err.message;
    res.status(status).json({ error: message });
  });
  const server = app.listen(options.port, options.host);
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(err.code === "EADDRINUSE" ? new Error(`${options.host}:${options.port} is already in use: stop what listens there, or choose another port`) : err),
    );
  });
  const port = (server.address() as AddressInfo).port;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    port,
    registry,
    close: async (graceMs = 5_000) => {
      // Without this a keep-alive connection whose request finishes during the grace period is held until it ends.
      closing = true;
      for (const res of unsent) if (!res.headersSent) res.setHeader("Connection", "close");
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
