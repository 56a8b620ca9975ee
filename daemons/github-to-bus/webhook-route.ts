import type { Request, Response } from "express";
import type { Logger } from "pino";
import { type Bus, InvalidMessageError } from "../../shared/bus/bus.ts";
import { describeIssues } from "../../shared/bus/envelope-codec.ts";
import { isValidRef, topics } from "../../shared/messages/index.ts";
import type { DeliveryLog, Outcome } from "./delivery-log.ts";
import { isCloneUrl, isRepoName } from "./normalize.ts";
import { type HeaderOf, type Provider, type Push, WebhookError } from "./provider.ts";
import type { DeliveryOutcome, WebhookMetrics } from "./webhook-metrics.ts";
import { type WebhookSecrets, secretKeys } from "./webhook-secrets.ts";

export interface RouteContext {
  bus: Bus;
  log: Logger;
  secrets: WebhookSecrets;
  /** Repositories whose pushes are published; empty: any. */
  repos: ReadonlySet<string>;
  deliveries: DeliveryLog;
  metrics: WebhookMetrics;
  maxCommits: number;
  publishTimeoutMs: number;
  retryAfterMs: number;
}

/** Longest delivery id kept; every provider's is a UUID, far shorter. */
const maxDeliveryIdLength = 256;

type Decoded = { ok: true; payload: unknown } | { ok: false; reason: string };

function decode(raw: Buffer, form: boolean): Decoded {
  let text = raw.toString("utf8");
  if (form) {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null) return { ok: false, reason: "a form-encoded body needs a payload field" };
    text = payload;
  }
  if (text.trim() === "") return { ok: false, reason: "the body is empty" };
  try {
    return { ok: true, payload: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

/** What no provider schema checks: that nothing in the message can be taken for an option or a path escape downstream. */
function checkPush(push: Push): Push {
  if (!isRepoName(push.repo.name)) {
    throw new WebhookError(400, `repository name ${JSON.stringify(push.repo.name)} is not a path like owner/name (letters, digits, . _ -)`);
  }
  for (const url of push.repo.urls ?? []) {
    if (!isCloneUrl(url)) throw new WebhookError(400, `clone URL ${JSON.stringify(url)} is not an https, ssh or git@host:path URL`);
  }
  // A component starting with "-" is a valid ref, but the branch or tag name cut from it would read as an option.
  if (!push.ref.startsWith("refs/") || !isValidRef(push.ref) || push.ref.split("/").some((part) => part.startsWith("-"))) {
    throw new WebhookError(400, `ref ${JSON.stringify(push.ref)} is not a full git ref such as refs/heads/main or refs/tags/v1.0`);
  }
  const parsed = topics["git.commits"].body.safeParse(push);
  if (!parsed.success) throw new WebhookError(400, `the push does not make a valid git.commits message: ${describeIssues(parsed.error)}`);
  return push;
}

/** Resolves with the outcome, or with undefined once `ms` passed; the work goes on either way. */
function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/**
 * The handler of POST /webhooks/<provider>: verify, interpret, publish, and
 * answer only once the broker has the message, so nothing is acknowledged and
 * then lost. The request's body arrives raw: signatures are over its bytes.
 */
export function webhookRoute(provider: Provider, context: RouteContext): (req: Request, res: Response) => Promise<void> {
  const { secrets, metrics } = context;
  const { key, env } = secretKeys[provider.name];
  const log = context.log.child({ provider: provider.name });

  return async (req, res) => {
    const answer = (outcome: DeliveryOutcome, status: number, body?: Record<string, unknown>) => {
      metrics.count(provider.name, outcome);
      res.status(status);
      if (body === undefined) res.end();
      else res.json(body);
    };
    const header: HeaderOf = (name) => req.get(name);

    if (!secrets.enabled(provider.name)) {
      answer("disabled", 404, {
        error: `${provider.title} webhooks are not enabled: set github-to-bus.${key} (${env}), or list repositories in github-to-bus.repoSecrets`,
      });
      return;
    }
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const decoded = decode(raw, provider.formEncoded && req.is("application/x-www-form-urlencoded") === "application/x-www-form-urlencoded");
    // Only picks the secret: nothing the payload says is believed before it is verified.
    const claimed = decoded.ok ? provider.repoName(decoded.payload) : undefined;
    const secret = secrets.secretFor(provider.name, claimed);
    if (secret === undefined) {
      log.warn({ repo: claimed, ip: req.ip }, "webhook refused: no secret for its repository");
      answer("unauthorized", 401, {
        error: `no secret is configured for repository ${claimed ?? "(none named)"}: add it to github-to-bus.repoSecrets, or set github-to-bus.${key}`,
      });
      return;
    }
    if (!provider.verify(header, raw, secret)) {
      log.warn({ repo: claimed, ip: req.ip }, "webhook refused: bad or missing signature");
      answer("unauthorized", 401, {
        error: `${provider.proofHeader} is missing or does not match: give the webhook the secret set in github-to-bus.${key} (or the repository's in repoSecrets)`,
      });
      return;
    }
    if (!decoded.ok) {
      answer("invalid", 400, { error: `body is not valid JSON: ${decoded.reason}` });
      return;
    }
    const deliveryId = provider.deliveryId(header, decoded.payload);
    try {
      if (deliveryId !== undefined && deliveryId.length > maxDeliveryIdLength) {
        throw new WebhookError(400, `the delivery id is longer than ${maxDeliveryIdLength} characters`);
      }
      const seen = provider.interpret(header, decoded.payload, { maxCommits: context.maxCommits });
      const repo = seen.kind === "push" ? seen.push.repo.name : claimed;
      if (seen.kind !== "ignored" && repo !== undefined && context.repos.size > 0 && !context.repos.has(repo)) {
        log.warn({ repo }, "webhook refused: repository not in github-to-bus.repos");
        answer("forbidden", 403, { error: `repository ${repo} is not one this daemon publishes: add it to github-to-bus.repos` });
        return;
      }
      switch (seen.kind) {
        case "ping":
          answer("ping", 200, { ok: true, ping: true });
          return;
        case "ignored":
          log.debug({ event: seen.event }, "webhook event not handled");
          answer("ignored", 204);
          return;
        case "push":
          await publish(checkPush(seen.push), deliveryId);
          return;
        default: {
          const unreachable: never = seen;
          throw new Error(`unknown interpretation ${JSON.stringify(unreachable)}`);
        }
      }
    } catch (err) {
      if (!(err instanceof WebhookError || err instanceof InvalidMessageError)) throw err;
      log.info({ delivery: deliveryId, reason: err.message }, "webhook refused: invalid payload");
      answer("invalid", 400, { error: err.message });
    }

    async function publish(push: Push, delivery: string | undefined): Promise<void> {
      const send = async () => (await context.bus.publish("git.commits", push, { confirm: true, timeoutMs: context.publishTimeoutMs })).id;
      const work: Promise<Outcome> =
        delivery === undefined ? send().then((id) => ({ duplicate: false, id })) : context.deliveries.once(`${provider.name}:${delivery}`, send);
      // Answered or not, the attempt runs to its end: a late success is still remembered, so the retry is a duplicate.
      work.catch(() => undefined);
      const where = { delivery, repo: push.repo.name, ref: push.ref, after: push.after };
      let outcome: Outcome | undefined;
      let failure: unknown;
      try {
        outcome = await within(work, context.publishTimeoutMs);
      } catch (err) {
        if (err instanceof InvalidMessageError) throw err;
        failure = err;
      }
      if (outcome === undefined) {
        const reason = failure instanceof Error ? failure.message : `no confirmation from the broker within ${context.publishTimeoutMs} ms`;
        log.warn({ ...where, reason }, "webhook not accepted: the bus is unavailable");
        res.set("Retry-After", String(Math.ceil(context.retryAfterMs / 1000)));
        answer("unavailable", 503, { error: `the message bus is unavailable (${reason}); nothing was published, deliver again later` });
        return;
      }
      if (outcome.duplicate) {
        log.info({ ...where, msgId: outcome.id }, "webhook delivery seen before: not published again");
        answer("duplicate", 200, { duplicate: true, id: outcome.id });
        return;
      }
      log.info({ ...where, msgId: outcome.id }, "push published to git.commits");
      answer("published", 202, { id: outcome.id });
    }
  };
}
