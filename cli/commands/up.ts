import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import type { CommandModule } from "yargs";
import { daemons } from "../../daemons/index.ts";
import { readConfig } from "../../shared/config/read-config.ts";
import { ensureKeyPair } from "../../shared/ensure-key-pair.ts";
import { type DeployAgentConfig, deployAgentConfig } from "../../daemons/deploy-agent/config.ts";
import { ensureAdminToken } from "../../daemons/conductor/api-tokens.ts";
import { type ConductorConfig, conductorConfig } from "../../daemons/conductor/config.ts";
import { type ExampleFiles, installExample } from "./up-example.ts";
import type { AllConfig, RunningDaemon } from "../../shared/run-daemon.ts";
import { version } from "../../shared/version.ts";

interface UpArgs {
  config?: string;
  bus?: string;
  "data-dir": string;
  host: string;
  port: number;
  "api-port": number;
  example: boolean;
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
      .option("api-port", { type: "number", default: 8470, describe: "the conductor's REST API port (0 picks a free one)" })
      .option("example", { type: "boolean", default: false, describe: "set up the hello app from examples/ (a git repository with two tags) to deploy on this machine" })
      .example("$0 up", "everything on this machine, nothing else installed")
      .example("$0 up --bus stomp://guest:guest@127.0.0.1:61613", "every daemon, on RabbitMQ instead of the embedded broker")
      .example("$0 up --example", "everything, plus an app to deploy: deploykit deploy hello v1.0.0 --env local")
      .example("$0 up --port 0 --api-port 0 --data-dir /tmp/dk", "a throwaway instance beside another one"),
  handler: async (args) => {
    const dataDir = path.resolve(args["data-dir"]);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DEPLOYKIT_DATA_DIR: dataDir,
      DEPLOYKIT_BROKER_HOST: args.host,
      DEPLOYKIT_BROKER_PORT: String(args.port),
      DEPLOYKIT_CONDUCTOR_PORT: String(args["api-port"]),
    };
    if (args.bus) env.DEPLOYKIT_BUS_URL = args.bus;
    const [{ configSections, exitBecause, startDaemon, stopOnSignals }, { createLogger }] = await Promise.all([
      import("../../shared/run-daemon.ts"),
      import("../../shared/create-logger.ts"),
    ]);
    const loaded = readConfig(configSections(daemons), { file: args.config, env });
    let values = loaded.values as AllConfig;
    // State that packaged daemons keep under /var/lib/deploykit goes under the data directory, unless configured.
    const fetcher = values["repo-fetcher"] as { mirrorDir: string } | undefined;
    if (fetcher && fetcher.mirrorDir === "") fetcher.mirrorDir = path.join(dataDir, "mirrors");
    const agent = values["deploy-agent"] as DeployAgentConfig | undefined;
    if (agent) underDataDir(agent, dataDir);
    const conductorValues = values.conductor as ConductorConfig | undefined;
    if (conductorValues) conductorUnderDataDir(conductorValues, dataDir);
    const log = createLogger({ name: "deploykit", level: values.log.level, format: values.log.format });
    const started: RunningDaemon[] = [];
    // Last started, first stopped: the broker goes after everyone who talks through it.
    const stopAll = async () => {
      for (const running of [...started].reverse()) {
        await running.stop().catch((err: unknown) => running.log.error({ err }, "error while stopping"));
      }
    };
    let keys: ReturnType<typeof ensureKeyPair>;
    let admin: ReturnType<typeof ensureAdminToken> | undefined;
    let example: ExampleFiles | undefined;
    try {
      keys = ensureKeyPair(path.join(dataDir, "keys"));
      if (conductorValues) admin = ensureAdminToken(conductorValues.tokensFile, path.join(dataDir, "admin.token"));
      if (args.example) example = await installExample(dataDir);
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
      // return: exitBecause never returns, but loaded with import() TypeScript cannot see that.
      return exitBecause(err, "deploykit up could not start");
    }
    const rows: [string, string][] = [
      ["data", dataDir],
      ["signing key", `${keys.publicKey}${keys.created ? " (new pair)" : ""}`],
      ["bus", started.find((d) => d.name !== "broker")?.bus.description ?? values.bus.url],
    ];
    if (admin) rows.push(["admin token", `${admin.tokenFile}${admin.created ? " (new)" : ""}`]);
    for (const running of started) for (const { what, url } of running.urls) rows.push([`${running.name} ${what}`, url]);
    const width = Math.max(...rows.map(([label]) => label.length)) + 2;
    const lines = [`deploykit ${version} is up: ${started.map((d) => d.name).join(", ")}`, ...rows.map(([label, value]) => `  ${label.padEnd(width)}${value}`)];
    if (example) {
      lines.push(`The example app is set up (${example.conductorApp}). Try, in another terminal:`);
      const server = started.find((d) => d.name === "conductor")?.urls.find((u) => u.what === "api")?.url.replace(/\/api\/v1$/, "");
      const prefix = server && server !== "http://127.0.0.1:8470" ? `DEPLOYKIT_SERVER=${server} ` : "";
      const dataPrefix = dataDir === defaultDataDir() ? "" : `DEPLOYKIT_DATA_DIR=${dataDir} `;
      lines.push(`  ${dataPrefix}${prefix}deploykit deploy hello v1.0.0 --env local`, `  ${dataPrefix}${prefix}deploykit status hello`);
      const ui = started.find((d) => d.name === "conductor")?.urls.find((u) => u.what === "web ui")?.url;
      if (ui && admin) lines.push(`or open ${ui} and sign in with the token in ${admin.tokenFile}.`);
    }
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

/** The conductor's packaged paths move under the data directory too, and it signs with the data directory's key, which the local agent trusts. */
function conductorUnderDataDir(conductor: ConductorConfig, dataDir: string): void {
  const moved: Partial<Record<keyof ConductorConfig, string>> = {
    appsDir: path.join(dataDir, "conductor", "apps.d"),
    database: `sqlite:${path.join(dataDir, "ledger.sqlite")}`,
    tokensFile: path.join(dataDir, "conductor", "tokens.yaml"),
    signingKey: path.join(dataDir, "keys", "deploy-signing.key"),
    mirrorDir: path.join(dataDir, "conductor", "mirrors"),
  };
  for (const [key, value] of Object.entries(moved) as [keyof ConductorConfig, string][]) {
    if (conductor[key] === conductorConfig[key].default) Object.assign(conductor, { [key]: value });
  }
}
