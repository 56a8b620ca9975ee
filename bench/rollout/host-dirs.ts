// Where each benchmark host keeps its files. The agent swarm, the Ansible
// playbook, the shell floor and the final checks all find a host's root here,
// so every side writes (and is checked) in a tree of its own.
import { join } from "node:path";

/** The app's name on the agents and in the conductor; releases live under <root>/<app>. */
export const benchApp = "bench";

/** Who does the deploy: each side gets its own copy of the 200 hosts. */
export type Side = "agents" | "ansible" | "shell";

export interface HostDirs {
  identity: string;
  /** The host's own directory, holding the rest. */
  dir: string;
  /** The app file's `root:`; the app itself is <root>/bench. */
  root: string;
  appDir: string;
  /** Agents only: apps.d, the agent's state, repo-fetcher's (unused) mirror directory. */
  appsDir: string;
  stateDir: string;
  mirrorDir: string;
}

export function hostIdentityOf(index: number): string {
  return `bench-${index}`;
}

export function hostDirs(base: string, side: Side, index: number): HostDirs {
  const identity = hostIdentityOf(index);
  const dir = join(base, side, identity);
  const root = join(dir, "srv");
  return {
    identity,
    dir,
    root,
    appDir: join(root, benchApp),
    appsDir: join(dir, "apps.d"),
    stateDir: join(dir, "state"),
    mirrorDir: join(dir, "mirrors"),
  };
}
