import { Counter, Gauge, Registry } from "prom-client";
import type { Subscription } from "../../shared/bus/bus.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { readSigningKey } from "../../shared/deploy-signature.ts";
import { serveHttp } from "../../shared/http/serve-http.ts";
import { requireRole } from "./api-tokens.ts";
import { reloadingTokens } from "./token-reloader.ts";
import { builtUiDir, uiRoutes } from "./api/ui-routes.ts";
import { apiRoutes } from "./api/api-routes.ts";
import { readAppCatalog } from "./app-catalog.ts";
import { AppRepos } from "./app-repos.ts";
import type { ConductorConfig } from "./config.ts";
import { ConductorService } from "./conductor-service.ts";
import { HostRegistry } from "./host-registry.ts";
import { openLedger } from "./ledger/open-ledger.ts";
import { LiveFeed } from "./live-feed.ts";

// setTimeout takes at most 2^31-1 ms; a longer interval would fire at once.
const longestTimer = 2 ** 31 - 1;

/** The conductor's start, loaded only when it runs: every other CLI command is spared Kysely, express and the drivers. */
export async function startConductor({ config, bus, log, signal, announce }: DaemonContext<ConductorConfig>): Promise<Stop> {
  const apps = readAppCatalog(config.appsDir);
  if (apps.size === 0) log.warn({ appsDir: config.appsDir }, "no apps configured: nothing can be deployed (see docs/conductor.md)");
  const signingKey = readSigningKey(config.signingKey);
  const tokens = reloadingTokens(config.tokensFile, log);
  if (tokens().size === 0) log.warn({ tokensFile: config.tokensFile }, "no API tokens: every API request will be refused; create one with `deploykit token create <name> --role admin`");
  const ledger = await openLedger(config.database, { log });
  const cleanups: (() => Promise<void>)[] = [() => ledger.close()];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch((err: unknown) => log.warn({ err }, "error while stopping"));
  };
  try {
    const registry = new HostRegistry(ledger, config.hostExpiry);
    await registry.load();
    const repos = new AppRepos({ mirrorDir: config.mirrorDir, fetchTimeout: config.fetchTimeout, signal, log });
    const feed = new LiveFeed();
    const metrics = new Registry();
    const deployStates = new Counter({ name: "deploykit_conductor_deploys_total", help: "Deploys that reached each state", labelNames: ["state"], registers: [metrics] });
    const service = new ConductorService({
      ledger,
      bus,
      apps,
      repos,
      registry,
      feed,
      signingKey,
      log,
      requestTtlMs: config.requestTtl,
      hostTimeoutMs: config.hostTimeout,
      logLinesPerHost: config.logLinesPerHost,
      onState: (state) => deployStates.inc({ state }),
    });
    cleanups.push(() => service.stop());

    new Gauge({
      name: "deploykit_conductor_hosts",
      help: "Hosts known from hosts.alive, by whether they are alive",
      labelNames: ["alive"],
      registers: [metrics],
      collect() {
        const hosts = registry.list();
        this.set({ alive: "true" }, hosts.filter((host) => host.alive).length);
        this.set({ alive: "false" }, hosts.filter((host) => !host.alive).length);
      },
    });
    new Gauge({ name: "deploykit_conductor_stream_clients", help: "Open deploy streams", registers: [metrics], collect() { this.set(feed.listeners); } });

    const subscriptions: Subscription[] = [];
    cleanups.push(async () => {
      for (const subscription of subscriptions) await subscription.unsubscribe().catch(() => undefined);
    });
    subscriptions.push(await bus.subscribe("hosts.alive", (message) => service.onAlive(message.body, message.time)));
    subscriptions.push(
      await bus.subscribe("builds", ({ body, time }) =>
        ledger.recordBuild({ job: body.job, number: body.number ?? null, phase: body.phase, repo: body.repo ?? null, ref: body.ref ?? null, sha: body.sha ?? null, url: body.url ?? null, time }),
      ),
    );
    subscriptions.push(await bus.subscribe("deploy.results", (message) => service.onResult(message.body)));
    subscriptions.push(await bus.subscribe("deploy.progress", (message) => service.onProgress(message.body, message.time)));

    // Mirrors are made in the background: a git server that is down must not keep the API from starting.
    for (const app of apps.values()) {
      repos.ensure(app).catch((err: unknown) => log.warn({ err, app: app.app }, "could not make the app's mirror; refs are listed once it can be fetched"));
    }
    const fetchAll = setInterval(() => {
      for (const app of apps.values()) repos.fetch(app).catch((err: unknown) => log.warn({ err, app: app.app }, "periodic fetch failed"));
    }, Math.min(config.fetchInterval, longestTimer));
    fetchAll.unref();
    cleanups.push(async () => clearInterval(fetchAll));

    await service.recover();
    const http = await serveHttp({
      host: config.host,
      port: config.port,
      log,
      registry: metrics,
      routes: (app) => {
        app.use("/api/v1", apiRoutes({ service, requireRole: (role) => requireRole(tokens, role) }));
        if (config.uiDir !== "off") app.use("/", uiRoutes(config.uiDir || builtUiDir));
      },
    });
    cleanups.push(() => http.close());
    announce("api", `${http.url}/api/v1`);
    if (config.uiDir !== "off") announce("web ui", `${http.url}/`);
    log.info({ apps: [...apps.keys()], ledger: ledger.dialect, hosts: registry.list().length }, "conductor ready");
  } catch (err) {
    await cleanup();
    throw err;
  }
  return cleanup;
}
