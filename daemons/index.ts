import type { AnyDaemon } from "../shared/daemon.ts";
import { broker } from "./broker/index.ts";
import { keepalive } from "./keepalive/index.ts";

/** Every daemon deploykit ships, in one explicit list; `deploykit up` starts them in this order (the broker first). */
export const daemons: readonly AnyDaemon[] = [broker, keepalive];

export function findDaemon(name: string): AnyDaemon | undefined {
  return daemons.find((daemon) => daemon.name === name);
}
