import type { CommandModule } from "yargs";
import { daemons } from "../../daemons/index.ts";
import { configTable } from "../../shared/config/config-table.ts";
import { ConfigError, readConfig } from "../../shared/config/read-config.ts";
import { configSections } from "../../shared/run-daemon.ts";
import { CliError } from "../cli-error.ts";

export const configCommand: CommandModule<{ config?: string }, { config?: string }> = {
  command: "config <action>",
  describe: "Work with the configuration file",
  builder: (yargs) =>
    yargs
      .command(
        "check",
        "Validate the configuration and print the effective values, secrets masked",
        () => {},
        (args: { config?: string }) => {
          try {
            const loaded = readConfig(configSections(daemons), { file: args.config });
            process.stderr.write(`configuration is valid (${loaded.file ?? "no file: defaults and environment"})\n`);
            process.stdout.write(loaded.describe());
          } catch (err) {
            if (err instanceof ConfigError) throw new CliError(err.message, 78);
            throw err;
          }
        },
      )
      .command(
        "table",
        "Print every configuration key as the Markdown table the README carries",
        () => {},
        () => {
          process.stdout.write(configTable(configSections(daemons)));
        },
      )
      .demandCommand(1, "say what to do: deploykit config check"),
  handler: () => {},
};
