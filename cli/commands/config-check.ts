import type { CommandModule } from "yargs";
import { daemons } from "../../daemons/index.ts";
import { configTable } from "../../shared/config/config-table.ts";
import { readConfig } from "../../shared/config/read-config.ts";

export const configCommand: CommandModule<{ config?: string }, { config?: string }> = {
  command: "config <action>",
  describe: "Work with the configuration file",
  builder: (yargs) =>
    yargs
      .command(
        "check",
        "Validate the configuration and print the effective values, secrets masked",
        () => {},
        async (args: { config?: string }) => {
          const { configSections } = await import("../../shared/run-daemon.ts");
          // A ConfigError goes to the CLI's edge, which prints it and exits 78.
          const loaded = readConfig(configSections(daemons), { file: args.config });
          process.stderr.write(`configuration is valid (${loaded.file ?? "no file: defaults and environment"})\n`);
          process.stdout.write(loaded.describe());
        },
      )
      .command(
        "table",
        "Print every configuration key as the Markdown table the README carries",
        () => {},
        async () => {
          const { configSections } = await import("../../shared/run-daemon.ts");
          process.stdout.write(configTable(configSections(daemons)));
        },
      )
      .demandCommand(1, "say what to do: deploykit config check"),
  handler: () => {},
};
