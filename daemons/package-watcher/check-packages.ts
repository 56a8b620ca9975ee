import type { Logger } from "pino";
import { compareDebianVersions } from "../../shared/debian/compare-versions.ts";
import type { AnnouncedVersions } from "./announced-versions.ts";
import type { AptTools } from "./apt-tools.ts";
import type { CheckBatch } from "./check-scheduler.ts";
import type { PackagePatterns } from "./package-patterns.ts";

export interface Announcement {
  package: string;
  /** null: not installed here (only with includeNotInstalled). */
  installed: string | null;
  candidate: string;
  /** The message that asked for this check, when one did. */
  correlationId?: string;
}

export interface CheckOutcome {
  /** false when apt-get update failed and the comparison used the lists of an earlier update. */
  updated: boolean;
  checked: number;
  announcements: Announcement[];
}

export interface CheckPackagesOptions {
  batch: CheckBatch;
  patterns: PackagePatterns;
  apt: AptTools;
  announced: AnnouncedVersions;
  includeNotInstalled: boolean;
  signal: AbortSignal;
  log: Logger;
  /** Told when apt-get update ended, either way; the daemon counts runs with it. */
  onUpdate(outcome: { ok: boolean; durationMs: number }): void;
}

/**
 * One check: apt-get update, what dpkg says is installed, what apt would
 * install, and which watched packages have a newer candidate that was not
 * announced yet. It installs nothing: that is the configuration manager's job.
 */
export async function checkPackages(options: CheckPackagesOptions): Promise<CheckOutcome> {
  const { batch, patterns, apt, announced, signal, log } = options;
  let updated = true;
  const started = performance.now();
  try {
    const { durationMs, messages } = await apt.update(signal);
    options.onUpdate({ ok: true, durationMs });
    if (messages.length > 0) log.warn({ messages }, "apt-get update reported problems with some sources");
  } catch (err) {
    if (signal.aborted) throw err;
    updated = false;
    options.onUpdate({ ok: false, durationMs: Math.round(performance.now() - started) });
    log.warn({ err }, "apt-get update failed: comparing with the package lists of the last update that worked");
  }

  const installed = await apt.installed(patterns.entries, signal);
  const names = new Set(installed.keys());
  if (options.includeNotInstalled) {
    for (const name of patterns.names) names.add(name);
    for (const name of batch.packages.keys()) names.add(name);
    for (const glob of patterns.globs) {
      const prefix = /^[^*?]*/.exec(glob)?.[0] ?? "";
      for (const name of await apt.knownNames(prefix, signal)) if (patterns.matches(name)) names.add(name);
    }
  }
  const candidates = await apt.candidates([...names].sort(), signal);

  const announcements: Announcement[] = [];
  for (const name of [...names].sort()) {
    const candidate = candidates.get(name);
    const current = installed.get(name);
    if (candidate === undefined || (current !== undefined && compareDebianVersions(candidate, current) <= 0)) {
      announced.forget(name);
      continue;
    }
    if (announced.announced(name) === candidate) continue;
    announcements.push({ package: name, installed: current ?? null, candidate, correlationId: batch.packages.get(name) ?? batch.correlationId });
  }
  return { updated, checked: names.size, announcements };
}
