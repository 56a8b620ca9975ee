import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type { CommandModule } from "yargs";
import { daemons } from "../../daemons/index.ts";
import { readConfig } from "../../shared/config/read-config.ts";
import { createLogger } from "../../shared/create-logger.ts";
import { ensureKeyPair } from "../../shared/ensure-key-pair.ts";
import { type DeployAgentConfig, deployAgentConfig } from "../../daemons/deploy-agent/config.ts";
import { type AllConfig, type RunningDaemon, configSections, exitBecause, startDaemon, stopOnSignals } from "../../shared/run-daemon.ts";
import { version } from "../../shared/version.ts";

interface UpArgs {
  config?: string;
  bus?: string;
  "data-dir": string;
  host: string;
  port: number;
}

/** `$DEPLOYKIT_DATA_DIR`, else `~/.deploykit`, else `./.deploykit` when there is no home. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.DEPLOYKIT_DATA_DIR) return env.DEPLOYKIT_DATA_DIR;
  const home = env.HOME ?? homedir();
  return home ? path.join(home, ".deploykit") : path.resolve(".deploykit");
}

export const upCommand: CommandModule<{ config?: string; bus?: string }, UpArgs> = {
  command: "up",
  describe: "Run the whole system in one process: the embedded broker and every daemon",
  builder: (yargs) =>
    yargs
      .option("data-dir", { type: "string", default: defaultDataDir(), describe: "ledger, keys, mirrors and releases" })
      .option("host", { type: "string", default: "127.0.0.1", describe: "address the embedded broker listens on" })
      .option("port", { type: "number", default: 61613, describe: "embedded broker's STOMP port (0 picks a free one)" })
      .example("$0 up", "everything on this machine, nothing else installed")
      .example("$0 up --bus stomp://guest:guest@127.0.0.1:61613", "every daemon, on RabbitMQ instead of the embedded broker")
      .example("$0 up --port 0 --data-dir /tmp/dk", "a throwaway instance beside another one"),
  handler: async (args) => {
    const dataDir = path.resolve(args["data-dir"]);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEPLOYKIT_DATA_DIR: dataDir,
      DEPLOYKIT_BROKER_HOST: args.host,
      DEPLOYKIT_BROKER_PORT: String(args.port),
    };
    if (args.bus) env.DEPLOYKIT_BUS_URL = args.bus;
    const loaded = readConfig(configSections(daemons), { file: args.config, env });
    let values = loaded.values as AllConfig;
    // State that packaged daemons keep under /var/lib/deploykit goes under the data directory, unless configured.
    const fetcher = values["repo-fetcher"] as { mirrorDir: string } | undefined;
    if (fetcher && fetcher.mirrorDir === "") fetcher.mirrorDir = path.join(dataDir, "mirrors");
    const agent = values["deploy-agent"] as DeployAgentConfig | undefined;
    if (agent) underDataDir(agent, dataDir);
    const log = createLogger({ name: "deploykit", level: values.log.level, format: values.log.format });
    const started: RunningDaemon[] = [];
    // Last started, first stopped: the broker goes after everyone who talks through it.
    const stopAll = async () => {
      for (const running of [...started].reverse()) {
        await running.stop().catch((err: unknown) => running.log.error({ err }, "error while stopping"));
      }
    };
    let keys: ReturnType<typeof ensureKeyPair>;
    try {
      keys = ensureKeyPair(path.join(dataDir, "keys"));
      for (const daemon of daemons) {
        // The broker is the bus: with --bus, the bus is somewhere else.
        if (daemon.usesBus === false && args.bus) continue;
        const running = await startDaemon(daemon, values, log);
        started.push(running);
        const stomp = running.urls.find((u) => u.what === "stomp");
        if (daemon.usesBus === false && stomp) values = { ...values, bus: { ...values.bus, url: stomp.url } };
      }
    } catch (err) {
      await stopAll();
      exitBecause(err, "deploykit up could not start");
    }
    const rows: [string, string][] = [
      ["data", dataDir],
      ["signing key", `${keys.publicKey}${keys.created ? " (new pair)" : ""}`],
      ["bus", started.find((d) => d.name !== "broker")?.bus.description ?? values.bus.url],
    ];
    for (const running of started) for (const { what, url } of running.urls) rows.push([`${running.name} ${what}`, url]);
    const width = Math.max(...rows.map(([label]) => label.length)) + 2;
    const lines = [`deploykit ${version} is up: ${started.map((d) => d.name).join(", ")}`, ...rows.map(([label, value]) => `  ${label.padEnd(width)}${value}`)];
    lines.push("Stop with Ctrl-C.");
    process.stdout.write(`${lines.join("\n")}\n`);
    await stopOnSignals(log, stopAll);
  },
};

/** The agent's packaged paths (/etc/deploykit, /var/lib/deploykit) move under the data directory, unless configured otherwise. */
function underDataDir(agent: DeployAgentConfig, dataDir: string): void {
  const defaults = deployAgentConfig;
  const moved: Partial<Record<keyof DeployAgentConfig, string | string[]>> = {
    appsDir: path.join(dataDir, "apps.d"),
    stateDir: path.join(dataDir, "agent"),
    mirrorDir: path.join(dataDir, "mirrors"),
    factsFile: path.join(dataDir, "facts.yaml"),
    trustedKeys: [path.join(dataDir, "keys", "deploy-signing.pub"), path.join(dataDir, "trusted-keys")],
  };
  for (const [key, value] of Object.entries(moved) as [keyof DeployAgentConfig, string | string[]][]) {
    if (JSON.stringify(agent[key]) === JSON.stringify(defaults[key].default)) Object.assign(agent, { [key]: value });
  }
}
