import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { ExecutionContext } from "ava";

export type DaemonProcess = ChildProcess & { stderrText: string };

/** `deploykit daemon <name>` as a child process (SIGKILLed when the test ends), its stderr kept for failure messages. */
export function spawnDaemon(t: ExecutionContext, name: string, env: NodeJS.ProcessEnv): DaemonProcess {
  const child = spawn(process.execPath, [join(import.meta.dirname, "../../cli/deploykit.js"), "daemon", name], { env, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  Object.defineProperty(child, "stderrText", { get: () => stderr });
  return child as DaemonProcess;
}
