// The embedded broker for bench/broker, in a process of its own as RabbitMQ
// and ActiveMQ are: started through the CLI an operator would use
// (`deploykit broker`), on a free port, and stopped with SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface EmbeddedBrokerProcess {
  url: URL;
  pid: number;
  /** The broker's last lines of output, for a failure message. */
  output(): string;
  stop(): Promise<void>;
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const cli = join(root, "bin", "deploykit");

export async function spawnEmbeddedBroker(timeoutMs = 15_000): Promise<EmbeddedBrokerProcess> {
  if (!existsSync(join(root, "dist", "cli", "deploykit.js"))) throw new Error("dist/cli/deploykit.js is missing: build first (npm run bench:broker builds)");
  const port = await freePort();
  const child = spawn(cli, ["broker", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: root,
    env: { ...process.env, DEPLOYKIT_BROKER_METRICS_PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 20));
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  // A bench that dies of an uncaught exception must not leave the broker running.
  const orphanGuard = () => child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      process.off("exit", orphanGuard);
      resolve(code);
    }),
  );
  const output = () => lines.join("\n");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the embedded broker exited with code ${child.exitCode} before listening:\n${output()}`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await stop(child, exited);
      throw new Error(`the embedded broker did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms:\n${output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: new URL(`stomp://127.0.0.1:${port}`), pid: child.pid as number, output, stop: () => stop(child, exited) };
}

async function stop(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A port the kernel just handed out; the broker binds it a moment later. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
