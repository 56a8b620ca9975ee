import type { CommandModule } from "yargs";
import { daemons, findDaemon } from "../../daemons/index.ts";
import { CliError } from "../cli-error.ts";

interface DaemonArgs {
  config?: string;
  bus?: string;
  name: string;
}

/** `--bus` on the command line beats the file and the environment. */
export function busOverride(bus: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return bus ? { ...env, DEPLOYKIT_BUS_URL: bus } : env;
}

export const daemonCommand: CommandModule<{ config?: string; bus?: string }, DaemonArgs> = {
  command: "daemon <name>",
  describe: "Run one daemon in the foreground (what its systemd unit runs)",
  builder: (yargs) =>
    yargs.positional("name", { type: "string", demandOption: true, choices: daemons.map((d) => d.name), describe: "which daemon" }),
  handler: async (args) => {
    const daemon = findDaemon(args.name);
    if (!daemon) throw new CliError(`unknown daemon "${args.name}": use one of ${daemons.map((d) => d.name).join(", ")}`, 64);
    const { runDaemon } = await import("../../shared/run-daemon.ts");
    await runDaemon(daemon, { configFile: args.config, env: busOverride(args.bus), all: daemons });
  },
};
