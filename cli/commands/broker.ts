import type { CommandModule } from "yargs";
import { hashPassword } from "../../daemons/broker/authenticator.ts";
import { broker } from "../../daemons/broker/index.ts";
import { daemons } from "../../daemons/index.ts";
import { CliError } from "../cli-error.ts";

interface BrokerArgs {
  config?: string;
  host?: string;
  port?: number;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const hashPasswordCommand: CommandModule<object, object> = {
  command: "hash-password",
  describe: "Read a password on stdin and print the hash that broker.users holds (LOGIN:HASH)",
  handler: async () => {
    if (process.stdin.isTTY) process.stderr.write("password (then Enter and Ctrl-D): ");
    const password = (await readStdin()).replace(/\r?\n$/, "");
    if (password.length < 8) throw new CliError("refusing a password shorter than 8 characters", 64);
    process.stdout.write(`${await hashPassword(password)}\n`);
  },
};

export const brokerCommand: CommandModule<{ config?: string }, BrokerArgs> = {
  command: "broker",
  describe: "Run the embedded STOMP broker in the foreground (same as `daemon broker`)",
  builder: (yargs) =>
    yargs
      .command(hashPasswordCommand)
      .option("host", { type: "string", describe: "address to listen on (overrides broker.host; default 127.0.0.1)" })
      .option("port", { type: "number", describe: "STOMP port (overrides broker.port; default 61613, 0 picks one)" })
      .example("$0 broker --host 0.0.0.0", "serve other hosts too (set broker.users first: anonymous access is loopback only)")
      .example("echo 's3cret-pass' | $0 broker hash-password", "make a broker.users entry: web-1:<printed hash>"),
  handler: async (args) => {
    const env = { ...process.env };
    if (args.host !== undefined) env.DEPLOYKIT_BROKER_HOST = args.host;
    if (args.port !== undefined) env.DEPLOYKIT_BROKER_PORT = String(args.port);
    const { runDaemon } = await import("../../shared/run-daemon.ts");
    await runDaemon(broker, { configFile: args.config, env, all: daemons });
  },
};
