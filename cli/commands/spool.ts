import type { Argv, CommandModule } from "yargs";
import { flushSpool } from "../../shared/spool/flush-spool.ts";
import type { SpoolDir } from "../../shared/spool/spool-dir.ts";
import type { AllConfig } from "../../shared/run-daemon.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";
import { cliSpool, spoolOption } from "../cli-spool.ts";
import { spooledExitCode } from "./publish.ts";

interface SpoolArgs extends BusArgs {
  spool?: string | boolean;
  timeout: number;
  json?: boolean;
}

function spoolOf(args: SpoolArgs, values: AllConfig): SpoolDir {
  const spool = cliSpool(args.spool, values);
  if (!spool) throw new CliError("there is no spool: spool.dir is empty; name one with --spool DIR or DEPLOYKIT_SPOOL_DIR", 64);
  return spool;
}

async function flush(args: SpoolArgs): Promise<void> {
  const { cliBus, cliConfig } = await import("../cli-bus.ts");
  const values = cliConfig(args);
  const spool = spoolOf(args, values);
  const waiting = spool.list().length;
  if (waiting === 0) {
    process.stderr.write(`spool: nothing to deliver in ${spool.dir}\n`);
    return;
  }
  const bus = cliBus(args, "cli", { values });
  try {
    try {
      await bus.connected(args.timeout);
    } catch (err) {
      throw new CliError(`could not reach the bus: ${(err as Error).message}; ${waiting} messages stay in ${spool.dir}`, spooledExitCode);
    }
    const result = await flushSpool(bus, spool, { timeoutMs: args.timeout });
    for (const bad of result.bad) process.stderr.write(`spool: warning: moved ${bad.path} aside: ${bad.reason}\n`);
    if (result.busy) throw new CliError(`another process is delivering from ${spool.dir} right now; try again when it is done`, spooledExitCode);
    process.stderr.write(`spool: delivered ${result.delivered}, ${result.remaining} waiting, ${result.bad.length} moved to ${spool.badDir}\n`);
    if (result.error) throw new CliError(`delivery stopped: ${result.error.message}; ${result.remaining} messages stay in ${spool.dir}`, spooledExitCode);
  } finally {
    await bus.close({ graceMs: 0 });
  }
}

async function list(args: SpoolArgs): Promise<void> {
  const { cliConfig } = await import("../cli-bus.ts");
  const spool = spoolOf(args, cliConfig(args));
  const entries = spool.list();
  for (const entry of entries) {
    const read = spool.read(entry);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(read.ok ? { file: entry.path, ...read.message } : { file: entry.path, unreadable: read.reason })}\n`);
    } else if (read.ok) {
      const { envelope, topic, spooledAt } = read.message;
      process.stdout.write(`${spooledAt ?? "?"}\t${topic}\t${envelope.id}\t${entry.path}\n`);
    } else {
      process.stdout.write(`?\t?\t?\t${entry.path}\t(unreadable: ${read.reason}; a flush moves it to bad/)\n`);
    }
  }
  const bytes = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  const bad = spool.listBad().length;
  process.stderr.write(`spool: ${entries.length} waiting (${bytes} bytes) in ${spool.dir}; ${bad} in ${spool.badDir}\n`);
}

const common = (yargs: Argv<BusArgs>) =>
  yargs
    .option("spool", spoolOption)
    .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker (each message)" });

export const spoolCommand: CommandModule<BusArgs, BusArgs> = {
  command: "spool <action>",
  describe: "Deliver or list the messages kept while the bus was unavailable",
  builder: (yargs) =>
    yargs
      .command("flush", "Deliver every spooled message, oldest first, under its original id", common, (args) => flush(args as SpoolArgs))
      .command(
        "list",
        "Print the spooled messages: time spooled, topic, id, file",
        (y) => common(y).option("json", { type: "boolean", describe: "one JSON object per message, envelope included" }),
        (args) => list(args as SpoolArgs),
      )
      .demandCommand(1, "say what to do: deploykit spool flush")
      .epilogue(`flush exits 0 once the spool is empty, ${spooledExitCode} while messages remain (the bus is unavailable).`),
  handler: () => {},
};
