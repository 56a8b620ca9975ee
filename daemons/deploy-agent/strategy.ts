import type { Logger } from "pino";
import type { DeployRequest } from "../../shared/deploy-signature.ts";
import type { AppConfig } from "./app-config.ts";
import type { RepoFile } from "./deploy-plan.ts";

/** What an app runs now, as hosts.alive reports it. */
export interface AppRelease {
  release: string | null;
  ref?: string;
  sha: string | null;
  since: string | null;
  /** The directory scripts and health checks run in. */
  dir: string | null;
}

/** A release that exists on disk (or, for checkout, a commit the site can go back to). */
export interface ReleaseInfo {
  release: string;
  dir: string;
  ref?: string;
  sha?: string;
}

export interface StrategyContext {
  request: DeployRequest;
  app: AppConfig;
  log: Logger;
  signal: AbortSignal;
  timeoutMs: number;
  inactivityMs: number;
  /** Owner of what is written for the app. */
  owner?: { uid: number; gid: number };
  /** A line of the agent's own output for the step running now. */
  say(text: string): void;
}

/** What preflight learnt about the new release before anything was written. */
export interface Prepared {
  /** False when the release's deploykit.yml can only be read after fetch (an artifact, a commit not fetched yet). */
  known: boolean;
  repoFile?: RepoFile;
  /** Whether a path of the new release is executable, answered from the commit before it is on disk. */
  executable?(path: string): Promise<boolean>;
}

/**
 * How one strategy puts a release in place. The step machine (deploy-run.ts)
 * calls these in order and owns reporting, hooks, timeouts and rollback.
 */
export interface Strategy {
  readonly name: "release" | "artifact" | "checkout";
  /** Checks what can be checked before anything is written. */
  preflight(context: StrategyContext): Promise<Prepared>;
  /** Puts the new release on disk (not yet current); returns it and the deploykit.yml it carries. */
  fetch(context: StrategyContext): Promise<{ release: ReleaseInfo; repoFile: RepoFile | undefined }>;
  /** Makes the release current; returns what was current before. */
  link(context: StrategyContext, release: ReleaseInfo): Promise<ReleaseInfo | null>;
  /** Makes an earlier release current again (rollback). */
  switchBack(context: StrategyContext, to: ReleaseInfo): Promise<void>;
  /** A release that failed before it was linked: removed. */
  abandon(release: ReleaseInfo): void;
  /** A release that failed after it was linked: kept, and never chosen as "previous". */
  markFailed(release: ReleaseInfo, step: string, reason: string): void;
  /** The release a rollback goes to: the named one, or the one before current. */
  rollbackTarget(named: string | undefined): ReleaseInfo | null;
  /** The deploykit.yml of a release already on disk. */
  repoFileOf(release: ReleaseInfo): Promise<RepoFile | undefined>;
  current(): AppRelease;
  /** After a good deploy: keep the newest `keep` releases. */
  prune(keep: number): string[];
}
