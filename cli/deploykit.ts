import { readFileSync } from "node:fs";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { ConfigError } from "../shared/config/read-config.ts";
import { CliError } from "./cli-error.ts";
import { brokerCommand } from "./commands/broker.ts";
import { cancelCommand } from "./commands/cancel.ts";
import { configCommand } from "./commands/config-check.ts";
import { daemonCommand } from "./commands/daemon.ts";
import { deployCommand } from "./commands/deploy.ts";
import { historyCommand } from "./commands/history.ts";
import { hostsCommand } from "./commands/hosts.ts";
import { jenkinsNotifyCommand } from "./commands/jenkins-notify.ts";
import { keygenCommand } from "./commands/keygen.ts";
import { lockCommand } from "./commands/lock.ts";
import { logsCommand } from "./commands/logs.ts";
import { hookCommand } from "./commands/hook.ts";
import { packagesCommand } from "./commands/packages.ts";
import { publishCommand } from "./commands/publish.ts";
import { rollbackCommand } from "./commands/rollback.ts";
import { spoolCommand } from "./commands/spool.ts";
import { statusCommand } from "./commands/status.ts";
import { tailCommand } from "./commands/tail.ts";
import { tokenCommand } from "./commands/token.ts";
import { unlockCommand } from "./commands/unlock.ts";
import { upCommand } from "./commands/up.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("deploykit")
    .usage("$0 <command> [options]\n\nA deployment system whose small daemons talk over a message bus.")
    .option("config", {
      alias: "c",
      type: "string",
      global: true,
      describe: "configuration file (default: $DEPLOYKIT_CONFIG, then /etc/deploykit/deploykit.yaml)",
    })
    .option("bus", { type: "string", global: true, describe: "broker URL, overrides bus.url" })
    .command(upCommand)
    .command(deployCommand)
    .command(rollbackCommand)
    .command(statusCommand)
    .command(historyCommand)
    .command(logsCommand)
    .command(cancelCommand)
    .command(lockCommand)
    .command(unlockCommand)
    .command(hostsCommand)
    .command(daemonCommand)
    .command(brokerCommand)
    .command(publishCommand)
    .command(jenkinsNotifyCommand)
    .command(spoolCommand)
    .command(hookCommand)
    .command(packagesCommand)
    .command(tailCommand)
    .command(keygenCommand)
    .command(tokenCommand)
    .command(configCommand)
    .demandCommand(1, "say what to do: deploykit --help lists the commands")
    .strict()
    .recommendCommands()
    .version(pkg.version)
    .help()
    .alias("h", "help")
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((message, err, y) => {
      if (err) throw err;
      void y;
      process.stderr.write(`deploykit: ${message}\nRun with --help for usage.\n`);
      process.exit(64);
    })
    .parseAsync();
}

main(hideBin(process.argv)).then(
  () => {
    // Commands that leave handles open (none should) must not keep a finished CLI alive.
    process.exit(process.exitCode ?? 0);
  },
  (err: unknown) => {
    if (err instanceof CliError || err instanceof ConfigError) {
      process.stderr.write(`deploykit: ${err.message}\n`);
      process.exit(err instanceof CliError ? err.exitCode : 78);
    }
    process.stderr.write(`deploykit: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
