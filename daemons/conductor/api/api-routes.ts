import express, { type NextFunction, type Request, type RequestHandler, type Response, Router } from "express";
import { z } from "zod";
import { describeIssues } from "../../../shared/bus/envelope-codec.ts";
import { parseDuration } from "../../../shared/config/config-schema.ts";
import { host, isoTime, name } from "../../../shared/messages/fields.ts";
import { GitError } from "../../../shared/run-git.ts";
import { version } from "../../../shared/version.ts";
import type { ConductorService } from "../conductor-service.ts";
import { deployGate } from "../deploy-gate.ts";
import { deployStates } from "../ledger/ledger.ts";
import { ApiError } from "./api-error.ts";
import { appView, deployView } from "./app-views.ts";
import { planView } from "./plan-view.ts";
import { streamDeploy } from "./stream-deploy.ts";

export type Role = "viewer" | "deployer" | "admin";

export interface ApiRoutesOptions {
  service: ConductorService;
  /** Middleware that lets through tokens of at least this role and sets res.locals.actor and res.locals.role. */
  requireRole(role: Role): RequestHandler;
  /** SSE keep-alive comment period. */
  keepaliveMs?: number;
}

// Refs are checked for shape by the repository code (InvalidRefError → 400 invalid-ref), so a bad ref gets its own code.
const deployBody = z.strictObject({
  app: name,
  environment: name,
  ref: z.string().min(1).max(255),
  hosts: z.array(host).min(1).max(10_000).optional(),
  force: z.boolean().optional(),
});

const lockBody = z.strictObject({
  reason: z.string().trim().min(1, "say why the environment is locked").max(500),
  expiresAt: isoTime.optional(),
  expiresIn: z.string().optional(),
});

const deployQuery = z.object({
  app: name.optional(),
  environment: name.optional(),
  state: z.enum(deployStates).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.coerce.number().int().positive().optional(),
});

const logQuery = z.object({
  host: host.optional(),
  offset: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

function parse<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (!result.success) throw new ApiError("invalid-request", `${what}: ${describeIssues(result.error)}`);
  return result.data;
}

function deployId(request: Request): number {
  const id = Number(request.params.id);
  if (!Number.isSafeInteger(id) || id <= 0) throw new ApiError("invalid-request", `deploy id must be a positive number, not ${JSON.stringify(request.params.id)}`);
  return id;
}

type AsyncHandler = (request: Request, response: Response) => Promise<unknown>;
const handle =
  (handler: AsyncHandler): RequestHandler =>
  (request, response, next) => {
    handler(request, response).catch(next);
  };

/** /api/v1: the REST API of docs/conductor-api.md. The web UI and the CLI use nothing else. */
export function apiRoutes(options: ApiRoutesOptions): Router {
  const { service, requireRole } = options;
  const { ledger, registry, repos } = service.options;
  const router = Router();
  router.use(express.json({ limit: "256kb" }));

  router.get("/health", (_request, response) => {
    response.json({ status: "ok", version, ledger: ledger.dialect });
  });

  // Who the token belongs to and what it may do: the web UI offers only that.
  router.get("/whoami", requireRole("viewer"), (_request, response) => {
    response.json({ name: response.locals.actor, role: response.locals.role });
  });

  router.get(
    "/apps",
    requireRole("viewer"),
    handle(async (_request, response) => {
      response.json({ apps: await Promise.all([...service.options.apps.values()].map((app) => appView(service, app))) });
    }),
  );

  router.get(
    "/apps/:app",
    requireRole("viewer"),
    handle(async (request, response) => {
      response.json(await appView(service, service.app(String(request.params.app))));
    }),
  );

  router.get(
    "/apps/:app/refs",
    requireRole("viewer"),
    handle(async (request, response) => {
      const app = service.app(String(request.params.app));
      let listed: Awaited<ReturnType<typeof repos.refs>>;
      try {
        if (request.query.fetch === "1" || request.query.fetch === "true") await repos.fetch(app);
        else await repos.ensure(app);
        listed = await repos.refs(app);
      } catch (err) {
        if (err instanceof GitError) throw new ApiError("repository-unavailable", `cannot list ${app.app}'s refs: ${err.message}`);
        throw err;
      }
      const gateJobs = app.environments.find((env) => env.gate !== undefined)?.gate?.jobs;
      const refs = await Promise.all(
        listed.map(async (ref) => {
          const verdict = deployGate(await ledger.buildsForSha(ref.sha), gateJobs);
          return { ...ref, build: verdict.status, jobs: verdict.jobs };
        }),
      );
      response.json({ refs });
    }),
  );

  router.get("/hosts", requireRole("viewer"), (_request, response) => {
    response.json({ hosts: registry.list() });
  });

  router.post(
    "/deploys",
    requireRole("deployer"),
    handle(async (request, response) => {
      const body = parse(deployBody, request.body, "deploy request");
      const deploy = await service.requestDeploy({ ...body, actor: response.locals.actor, mayForce: response.locals.role === "admin" });
      response.status(201).json({ deploy });
    }),
  );

  router.post(
    "/plans",
    requireRole("deployer"),
    handle(async (request, response) => {
      const body = parse(deployBody, request.body, "deploy request");
      const check = await service.check({ ...body, actor: response.locals.actor, mayForce: response.locals.role === "admin" });
      const queued = await ledger.listDeploys({ app: body.app, environment: body.environment, states: ["queued"], limit: 500 });
      response.json({ plan: planView(check, registry.list(), service.runningFor(body.app, body.environment), queued.length) });
    }),
  );

  router.get(
    "/deploys",
    requireRole("viewer"),
    handle(async (request, response) => {
      const query = parse(deployQuery, request.query, "query");
      const deploys = await ledger.listDeploys({ app: query.app, environment: query.environment, states: query.state ? [query.state] : undefined, limit: query.limit, beforeId: query.before });
      response.json({ deploys: await withPositions(service, deploys) });
    }),
  );

  router.get(
    "/deploys/:id",
    requireRole("viewer"),
    handle(async (request, response) => {
      response.json(await deployDetail(service, deployId(request)));
    }),
  );

  router.get(
    "/deploys/:id/log",
    requireRole("viewer"),
    handle(async (request, response) => {
      const id = deployId(request);
      await service.deploy(id);
      const query = parse(logQuery, request.query, "query");
      const limit = query.limit ?? 1000;
      const lines = await ledger.readLog(id, { host: query.host, offset: query.offset, limit });
      const last = lines.at(-1);
      // With a host, where to continue (the same offset again when nothing new has come yet); without one, lines of all hosts come at once.
      const next = query.host === undefined ? null : last === undefined ? (query.offset ?? 0) : last.offset + 1;
      response.json({ lines, next });
    }),
  );

  router.get(
    "/deploys/:id/stream",
    requireRole("viewer"),
    handle(async (request, response) => {
      const id = deployId(request);
      await streamDeploy({ request, response, feed: service.options.feed, deployId: id, keepaliveMs: options.keepaliveMs, snapshot: () => deployDetail(service, id) });
    }),
  );

  router.post(
    "/deploys/:id/cancel",
    requireRole("deployer"),
    handle(async (request, response) => {
      response.json({ deploy: await service.cancel(deployId(request), response.locals.actor) });
    }),
  );

  router.post(
    "/deploys/:id/rollback",
    requireRole("deployer"),
    handle(async (request, response) => {
      response.status(201).json({ deploy: await service.rollback(deployId(request), response.locals.actor) });
    }),
  );

  router.put(
    "/apps/:app/environments/:env/lock",
    requireRole("admin"),
    handle(async (request, response) => {
      const body = parse(lockBody, request.body, "lock");
      let expiresAt = body.expiresAt ?? null;
      if (body.expiresIn !== undefined) {
        const ms = parseDuration(body.expiresIn);
        if (ms === undefined || ms <= 0) throw new ApiError("invalid-request", `expiresIn must be a duration such as 30m or 2h, not ${JSON.stringify(body.expiresIn)}`);
        expiresAt = new Date(Date.now() + ms).toISOString();
      }
      if (expiresAt !== null && Date.parse(expiresAt) <= Date.now()) throw new ApiError("invalid-request", `expiresAt ${expiresAt} is in the past`);
      const lock = await service.lock({
        app: String(request.params.app),
        environment: String(request.params.env),
        actor: response.locals.actor,
        reason: body.reason,
        createdAt: new Date().toISOString(),
        expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
      });
      response.json({ lock });
    }),
  );

  router.delete(
    "/apps/:app/environments/:env/lock",
    requireRole("admin"),
    handle(async (request, response) => {
      await service.unlock(String(request.params.app), String(request.params.env), response.locals.actor);
      response.json({ unlocked: true });
    }),
  );

  router.use((request, _response, next) => next(new ApiError("not-found", `no route for ${request.method} ${request.baseUrl}${request.path}`)));
  router.use((err: Error & { status?: number; type?: string }, request: Request, response: Response, _next: NextFunction) => {
    if (response.headersSent) {
      request.socket.destroy();
      return;
    }
    if (err instanceof ApiError) {
      response.status(err.status).json({ error: { code: err.code, message: err.message } });
      return;
    }
    if (err.type === "entity.parse.failed") {
      response.status(400).json({ error: { code: "invalid-request", message: `body is not valid JSON: ${err.message}` } });
      return;
    }
    if (err.status && err.status >= 400 && err.status < 500) {
      response.status(err.status).json({ error: { code: "invalid-request", message: err.message } });
      return;
    }
    service.options.log.error({ err, path: request.path }, "API request failed");
    response.status(500).json({ error: { code: "internal", message: "internal error (see the conductor's log)" } });
  });
  return router;
}

async function withPositions(service: ConductorService, deploys: Awaited<ReturnType<ConductorService["deploy"]>>[]) {
  const queues = new Map<string, number[]>();
  for (const deploy of deploys) {
    if (deploy.state !== "queued") continue;
    const key = `${deploy.app}/${deploy.environment}`;
    if (!queues.has(key)) {
      const queued = await service.options.ledger.listDeploys({ app: deploy.app, environment: deploy.environment, states: ["queued"], limit: 500 });
      queues.set(key, queued.map((d) => d.id).sort((a, b) => a - b));
    }
  }
  return deploys.map((deploy) => {
    const queue = queues.get(`${deploy.app}/${deploy.environment}`);
    return deployView(deploy, deploy.state === "queued" && queue ? queue.indexOf(deploy.id) + 1 : undefined);
  });
}

/** GET /deploys/:id: the deploy, its hosts by batch, each host's steps. */
export async function deployDetail(service: ConductorService, id: number) {
  const { ledger } = service.options;
  const deploy = await service.deploy(id);
  const [hosts, steps] = await Promise.all([ledger.deployHosts(id), ledger.steps(id)]);
  const canary = (service.options.apps.get(deploy.app)?.environments.find((env) => env.name === deploy.environment)?.rollout.canary ?? 0) > 0;
  const batches: { batch: number; hosts: string[]; canary: boolean }[] = [];
  for (const host of hosts) {
    if (host.batch < 0) continue;
    let entry = batches.find((b) => b.batch === host.batch);
    if (entry === undefined) {
      entry = { batch: host.batch, hosts: [], canary: canary && host.batch === 0 };
      batches.push(entry);
    }
    entry.hosts.push(host.host);
  }
  const [positioned] = await withPositions(service, [deploy]);
  return { deploy: positioned ?? deploy, hosts, steps, batches: batches.sort((a, b) => a.batch - b.batch) };
}
