import express, { type Request, type Response } from "express";
import { Counter, Registry } from "prom-client";
import { InvalidMessageError } from "../../shared/bus/bus.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { serveHttp } from "../../shared/http/serve-http.ts";
import { authorize } from "./authorize.ts";
import type { JenkinsStatusConfig } from "./config.ts";
import { BuildInputError } from "./jenkins-build.ts";
import { fromNotification } from "./notification.ts";

/** jenkins-status's start, loaded only when it runs: other CLI commands are spared express and prom-client. */
export async function startJenkinsStatus({ config, bus, log, announce }: DaemonContext<JenkinsStatusConfig>): Promise<Stop> {
  const registry = new Registry();
  const notifications = new Counter({
    name: "deploykit_jenkins_status_notifications_total",
    help: "Notifications received, by outcome: published, invalid, unauthorized, forbidden, unavailable",
    labelNames: ["outcome"],
    registers: [registry],
  });
  const published = new Counter({
    name: "deploykit_jenkins_status_builds_published_total",
    help: "builds.v1 messages published, by phase",
    labelNames: ["phase"],
    registers: [registry],
  });

  const notify = async (req: Request, res: Response) => {
    if (req.body === undefined) {
      notifications.inc({ outcome: "invalid" });
      res.status(415).json({ error: "send the Notification plugin's JSON (Format: JSON) with Content-Type: application/json" });
      return;
    }
    let build: ReturnType<typeof fromNotification>;
    try {
      build = fromNotification(req.body, { jenkinsUrl: config.jenkinsUrl });
    } catch (err) {
      if (!(err instanceof BuildInputError)) throw err;
      notifications.inc({ outcome: "invalid" });
      log.warn({ reason: err.message, remote: req.socket.remoteAddress }, "notification refused");
      res.status(400).json({ error: err.message });
      return;
    }
    const { body, correlationId, warnings } = build;
    const buildLog = log.child({ job: body.job, number: body.number, phase: body.phase });
    for (const warning of warnings) buildLog.warn(warning);
    try {
      const envelope = await bus.publish("builds", body, { correlationId, confirm: true, timeoutMs: config.publishTimeout });
      notifications.inc({ outcome: "published" });
      published.inc({ phase: body.phase });
      buildLog.info({ repo: body.repo, ref: body.ref, sha: body.sha, msgId: envelope.id }, `${body.job} #${body.number ?? "?"} ${body.phase}`);
      res.status(202).json({ id: envelope.id, correlationId: envelope.correlationId, job: body.job, number: body.number, phase: body.phase });
    } catch (err) {
      if (err instanceof InvalidMessageError) {
        notifications.inc({ outcome: "invalid" });
        res.status(400).json({ error: err.message });
        return;
      }
      notifications.inc({ outcome: "unavailable" });
      buildLog.error({ err }, "could not publish the build status");
      res.status(503).set("Retry-After", "30").json({ error: `the bus is unavailable, nothing was published: ${(err as Error).message}` });
    }
  };

  const server = await serveHttp({
    host: config.host,
    port: config.port,
    log,
    registry,
    routes(app) {
      app.post(
        "/jenkins/notify",
        authorize(config.token, (status) => notifications.inc({ outcome: status === 401 ? "unauthorized" : "forbidden" })),
        // The plugin sends application/json;charset=UTF-8; anything else is answered 415 above.
        express.json({ limit: config.maxBody, type: ["application/json", "application/*+json"], strict: false }),
        notify,
      );
    },
  });
  announce("http", server.url);
  if (!config.token) log.info("jenkins-status.token is not set: only clients on this host may notify");
  return () => server.close();
}
