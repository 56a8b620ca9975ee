import express, { type NextFunction, type Request, type Response } from "express";
import { Registry } from "prom-client";
import type { Daemon } from "../../shared/daemon.ts";
import { serveHttp } from "../../shared/http/serve-http.ts";
import { githubToBusConfig } from "./config.ts";
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

export type GithubToBusConfig = {
  host: string;
  port: number;
  githubSecret: string;
  gitlabToken: string;
  giteaSecret: string;
  genericToken: string;
  repoSecrets: string[];
  repos: string[];
  maxBodySize: number;
  maxCommits: number;
  publishTimeout: number;
  retryAfter: number;
  dedupEntries: number;
  dedupTtl: number;
};

/**
 * Turns verified push webhooks from GitHub, GitLab, Gitea/Forgejo (and our
 * own generic JSON) into git.commits messages. A delivery is answered only
 * once the broker confirmed its message; when the bus is down the answer is
 * 503, so the sender keeps the event and delivers it again.
 */
export const githubToBus: Daemon<GithubToBusConfig> = {
  name: "github-to-bus",
  description: "verifies push webhooks (GitHub, GitLab, Gitea/Forgejo, generic) and publishes them to git.commits",
  config: githubToBusConfig,
  async start({ config, bus, log, announce }) {
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
  },
};
