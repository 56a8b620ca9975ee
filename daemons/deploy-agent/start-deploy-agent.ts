import { join } from "node:path";
import { userInfo } from "node:os";
import type { Subscription } from "../../shared/bus/bus.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { readTrustedKeys } from "../../shared/deploy-signature.ts";
import { lookupGroup, lookupUser } from "../../shared/lookup-user.ts";
import { Agent, type AgentApp } from "./agent.ts";
import { type AppConfig, readAppsDir } from "./app-config.ts";
import { releaseStaleLocks } from "./app-lock.ts";
import { CheckoutStrategy } from "./checkout-strategy.ts";
import type { DeployAgentConfig } from "./config.ts";
import { GitSource } from "./git-source.ts";
import { hostIdentity } from "./host-identity.ts";
import { NonceStore } from "./nonce-store.ts";
import { Presence } from "./presence.ts";
import { ReleaseStrategy } from "./release-strategy.ts";
import { guardRequest } from "./request-guard.ts";
import type { RunAs } from "./step-runner.ts";

/** Whom an app's scripts run as: its configured user when the agent is root; the agent's own user otherwise. */
async function runAs(app: AppConfig, userName: string | undefined, key: string): Promise<RunAs> {
  const me = userInfo();
  if (me.uid !== 0) {
    if (userName !== undefined && userName !== me.username) {
      throw new Error(`${app.file}: ${key} is ${userName}, but the agent runs as ${me.username} and only root can run scripts as another user`);
    }
    return { name: me.username, uid: me.uid, gid: me.gid, home: me.homedir };
  }
  if (userName === undefined) {
    throw new Error(`${app.file}: set user, the account ${app.app}'s scripts run as (the agent runs as root and will not run them as root unless told: user: root)`);
  }
  const user = await lookupUser(userName).catch((err: Error) => {
    throw new Error(`${app.file}: ${key}: ${err.message}`);
  });
  const gid = app.group === undefined ? user.gid : await lookupGroup(app.group);
  return { ...user, gid, switchTo: { uid: user.uid, gid } };
}

/** The deploy agent's start, loaded only when it runs: other CLI commands are spared the agent, its strategies and tar. */
export async function startDeployAgent({ config, bus, log }: DaemonContext<DeployAgentConfig>): Promise<Stop> {
  const identity = await hostIdentity({
    identity: config.identity,
    factsFile: config.factsFile,
    facter: config.facter,
    classesFile: config.classesFile,
    classes: config.classes,
  });
  for (const warning of identity.warnings) log.warn(warning);
  const trusted = readTrustedKeys(config.trustedKeys);
  if (trusted.keys.size === 0) log.warn({ trustedKeys: config.trustedKeys }, "no trusted keys: every deploy request will be refused (see docs/deploy-agent.md)");

  const staleLocks = releaseStaleLocks(join(config.stateDir, "locks"));
  const apps = new Map<string, AgentApp>();
  const recovered: Record<string, string[]> = {};
  for (const [name, app] of readAppsDir(config.appsDir)) {
    const source = new GitSource({ app, mirrorDir: config.mirrorDir, ownMirrorDir: join(config.stateDir, "mirrors"), timeoutMs: app.timeout ?? config.stepTimeout });
    const strategy =
      app.strategy === "checkout"
        ? new CheckoutStrategy(app, source, config.stateDir)
        : new ReleaseStrategy({ app, source, downloadDir: join(config.stateDir, "downloads"), maxArtifactBytes: config.maxArtifactMegabytes * 1024 * 1024 });
    if (strategy instanceof ReleaseStrategy) {
      const { removed, warnings } = strategy.store.recover();
      if (removed.length > 0) recovered[name] = removed;
      for (const warning of warnings) log.warn({ app: name }, warning);
    }
    const user = await runAs(app, app.user, "user");
    const restartUser = app.restartUser === undefined ? user : await runAs({ ...app, group: undefined }, app.restartUser, "restartUser");
    apps.set(name, { config: app, strategy, user, restartUser });
    log.info({ app: name, strategy: app.strategy, user: user.name, current: strategy.current().release }, "deploying app");
  }
  if (apps.size === 0) log.warn({ appsDir: config.appsDir }, "no apps configured: this host deploys nothing (see docs/deploy-agent.md)");

  const nonces = new NonceStore(join(config.stateDir, "nonces"));
  const agent = new Agent({
    bus,
    log,
    config,
    identity,
    apps,
    guard: (request) => guardRequest(request, { trusted: trusted.keys, nonces, maxTtlMs: config.maxTtl, clockSkewMs: config.clockSkew }),
  });
  const presence = new Presence({ bus, log, intervalMs: config.aliveInterval, snapshot: async () => ({ ...agent.snapshotBase(), apps: await agent.apps() }) });

  let subscription: Subscription | undefined;
  subscription = await bus.subscribe("deploy.requests", (message, context) => agent.handle(message, context.log));
  const interrupted = staleLocks.map((lock) => ({ app: lock.app, deployId: lock.deployId, startedAt: lock.startedAt }));
  // A deploy the previous agent process never finished gets its answer now, so nothing waits on it forever.
  for (const lock of interrupted) {
    if (lock.deployId === "unknown" || !apps.has(lock.app)) continue;
    const current = apps.get(lock.app)?.strategy.current();
    await bus
      .publish("deploy.results", {
        deployId: lock.deployId,
        host: identity.identity,
        outcome: "failed",
        durationMs: 0,
        app: lock.app,
        release: current?.release ?? null,
        reason: `interrupted: the agent stopped during the deploy (started ${lock.startedAt}); ${current?.release ? `${current.release} is current` : "nothing is current"}`,
        interrupted: true,
      })
      .catch((err: unknown) => log.warn({ err }, "could not report an interrupted deploy"));
  }
  await presence.start({ recovered, interrupted, trustedKeys: [...trusted.keys.keys()] });
  log.info({ identity: identity.identity, apps: [...apps.keys()], classes: identity.classes, factSources: identity.factSources, trustedKeys: trusted.files }, "deploy agent ready");

  return async () => {
    await subscription?.unsubscribe().catch(() => undefined);
    subscription = undefined;
    await agent.stop();
    await presence.stop().catch((err: unknown) => log.warn({ err }, "could not publish the shutdown message"));
  };
}
