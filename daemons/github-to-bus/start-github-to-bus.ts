import express, { type NextFunction, type Request, type Response } from "express";
import { Registry } from "prom-client";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { serveHttp } from "../../shared/http/serve-http.ts";
import type { GithubToBusConfig } from "./config.ts";
import { DeliveryLog } from "./delivery-log.ts";
import { isRepoName } from "./normalize.ts";
import type { Provider } from "./provider.ts";
import { generic } from "./providers/generic.ts";
import { gitea } from "./providers/gitea.ts";
import { github } from "./providers/github.ts";
import { gitlab } from "./providers/gitlab.ts";
import { webhookMetrics } from "./webhook-metrics.ts";
import { webhookRoute } from "./webhook-route.ts";
import { WebhookSecrets } from "./webhook-secrets.ts";

/** github-to-bus's start, loaded only when it runs: other CLI commands are spared express and the providers. */
export async function startGithubToBus({ config, bus, log, announce }: DaemonContext<GithubToBusConfig>): Promise<Stop> {
  const secrets = new WebhookSecrets(config);
  const repos = new Set(config.repos.map((repo) => repo.trim().toLowerCase()));
  for (const repo of repos) {
    if (!isRepoName(repo)) throw new Error(`github-to-bus.repos: "${repo}" is not a repository path like owner/name`);
  }
  const providers: Provider[] = [github, gitlab, gitea, generic];
  const enabled = providers.filter((provider) => secrets.enabled(provider.name)).map((provider) => provider.name);
  if (enabled.length === 0) {
    log.warn("no webhook secret is configured: every /webhooks/ endpoint answers 404 (set github-to-bus.githubSecret, gitlabToken, giteaSecret, genericToken or repoSecrets)");
  }

  const registry = new Registry();
  const metrics = webhookMetrics(registry);
  const context = {
    bus,
    log,
    secrets,
    repos,
    deliveries: new DeliveryLog({ maxEntries: config.dedupEntries, ttlMs: config.dedupTtl }),
    metrics,
    maxCommits: config.maxCommits,
    publishTimeoutMs: config.publishTimeout,
    retryAfterMs: config.retryAfter,
  };
  // Any content type is read as bytes: the signature is over exactly what was sent.
  const rawBody = express.raw({ type: () => true, limit: config.maxBodySize });
  const server = await serveHttp({
    host: config.host,
    port: config.port,
    log,
    registry,
    routes(app) {
      for (const provider of providers) {
        app.post(`/webhooks/${provider.name}`, rawBody, webhookRoute(provider, context), (err: Error & { type?: string }, _req: Request, _res: Response, next: NextFunction) => {
          if (err.type === "entity.too.large") metrics.count(provider.name, "too_large");
          next(err);
        });
      }
    },
  });
  announce("http", server.url);
  log.info({ enabled, repos: repos.size > 0 ? [...repos] : "any" }, `webhooks: ${server.url}/webhooks/{github,gitlab,gitea,generic}`);
  // Deliveries in progress wait at most publishTimeout for the broker, then answer.
  return () => server.close(config.publishTimeout + 1_000);
}
