import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { isDebianPackageName } from "../../shared/debian/package-name.ts";
import { AnnouncedVersions } from "./announced-versions.ts";
import { aptTools } from "./apt-tools.ts";
import { checkPackages } from "./check-packages.ts";
import { CheckScheduler } from "./check-scheduler.ts";
import type { PackageWatcherConfig } from "./config.ts";
import { packagePatterns } from "./package-patterns.ts";

/** package-watcher's start, loaded only when it runs: other CLI commands are spared the apt tools and the scheduler. */
export async function startPackageWatcher({ config, bus, log, host }: DaemonContext<PackageWatcherConfig>): Promise<Stop> {
  const patterns = packagePatterns(config.packages);
  const apt = aptTools({ aptOptions: config.aptOptions, aptConfigFile: config.aptConfigFile, dpkgAdmindir: config.dpkgAdmindir, timeoutMs: config.commandTimeout });
  if (patterns.entries.length === 0) {
    log.info("no packages to watch (package-watcher.packages is empty): idle");
    return async () => {};
  }
  const announced = await AnnouncedVersions.open(config.stateFile, log);
  const stopping = new AbortController();
  let updateRuns = 0;

  const scheduler = new CheckScheduler({
    coalesceMs: config.coalesce,
    minIntervalMs: config.updateInterval,
    onError: (err) => {
      if (!stopping.signal.aborted) log.error({ err }, "package check failed");
    },
    run: async (batch) => {
      const checkLog = log.child({ correlationId: batch.correlationId, reasons: [...batch.reasons] });
      const outcome = await checkPackages({
        batch,
        patterns,
        apt,
        announced,
        includeNotInstalled: config.includeNotInstalled,
        signal: stopping.signal,
        log: checkLog,
        onUpdate: ({ ok, durationMs }) => {
          updateRuns++;
          checkLog.info({ updateRuns, durationMs }, ok ? "apt-get update finished" : "apt-get update failed");
        },
      });
      let published = 0;
      for (const { correlationId, ...body } of outcome.announcements) {
        try {
          await bus.publish("packages.available", { host, ...body }, { correlationId });
          announced.remember(body.package, body.candidate);
          published++;
          checkLog.info(body, `${body.package} ${body.candidate} is available (installed: ${body.installed ?? "none"})`);
        } catch (err) {
          // Not remembered, so the next check announces it again.
          checkLog.warn({ err, package: body.package }, "could not publish packages.available");
        }
      }
      await announced.save();
      checkLog.info({ checked: outcome.checked, announced: published, updated: outcome.updated }, "package check finished");
    },
  });

  const subscription = await bus.subscribe("packages.updates", (message) => {
    const messageLog = log.child({ msgId: message.id, correlationId: message.correlationId });
    const name = message.body.package;
    if (!isDebianPackageName(name)) {
      messageLog.warn({ package: name.slice(0, 200) }, "refused packages.updates: the package is not a Debian package name");
      return;
    }
    if (!patterns.matches(name)) {
      messageLog.debug({ package: name }, "packages.updates for a package not watched here");
      return;
    }
    messageLog.debug({ package: name, version: message.body.version }, "packages.updates for a watched package: a check is coming");
    scheduler.requestForMessage(name, message.correlationId);
  });

  let periodic: NodeJS.Timeout | undefined;
  if (config.periodic > 0) {
    scheduler.requestPeriodic();
    periodic = setInterval(() => scheduler.requestPeriodic(), config.periodic);
  }
  log.info({ packages: patterns.entries, updateInterval: config.updateInterval, coalesce: config.coalesce, periodic: config.periodic }, "watching packages");

  return async () => {
    clearInterval(periodic);
    await subscription.unsubscribe();
    stopping.abort();
    await scheduler.stop();
    await announced.save();
  };
}
