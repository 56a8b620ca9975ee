import type { AnyDaemon } from "../shared/daemon.ts";
import { keepalive } from "./keepalive/index.ts";

/** Every daemon deploykit ships, in one explicit list. */
export const daemons: readonly AnyDaemon[] = [keepalive];

export function findDaemon(name: string): AnyDaemon | undefined {
  return daemons.find((daemon) => daemon.name === name);
}
