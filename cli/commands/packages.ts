import type { Argv, CommandModule } from "yargs";
import { InvalidMessageError } from "../../shared/bus/bus.ts";
import { isDebianPackageName } from "../../shared/debian/package-name.ts";
import { isDebianVersion } from "../../shared/debian/compare-versions.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";

interface NotifyArgs extends BusArgs {
  package: string;
  "package-version": string;
  distribution: string;
  component: string;
  architecture?: string;
  correlationId?: string;
  timeout: number;
}

// Codenames, suites, components and architectures as repositories name them
// (bookworm, stable-updates, main, non-free/debian-installer, amd64).
const archiveName = /^[A-Za-z0-9][A-Za-z0-9._+/-]{0,99}$/;

function check(what: string, value: unknown, valid: (value: string) => boolean, expected: string): void {
  if (typeof value !== "string") throw new CliError(`--${what} was given more than once`, 64);
  if (!valid(value)) throw new CliError(`--${what} ${JSON.stringify(value)} is not ${expected}`, 65);
}

const isArchiveName = (value: string) => archiveName.test(value);
// The bus does not check a correlationId it is given, and every receiver would dead-letter the message.
const isUuid = (value: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);

const notifyCommand: CommandModule<BusArgs, NotifyArgs> = {
  command: "notify",
  describe: "Publish packages.updates: a package version was added to the repository (what hooks/reprepro runs)",
  builder: (yargs) =>
    yargs
      .option("package", { type: "string", demandOption: true, describe: "the binary package's name" })
      // --version is the CLI's own version flag.
      .option("package-version", { type: "string", demandOption: true, describe: "the version that was added" })
      .option("distribution", { type: "string", demandOption: true, describe: "codename or suite it was added to (bookworm)" })
      .option("component", { type: "string", default: "main", describe: "component it was added to" })
      .option("architecture", { type: "string", describe: "architecture, when the repository says" })
      .option("correlation-id", { type: "string", describe: "continue an existing chain (a uuid)" })
      .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker" })
      .example("$0 packages notify --package=shop-web --package-version=1.4-2 --distribution=bookworm", "tell every package-watcher that shop-web 1.4-2 is in bookworm/main"),
  handler: async (args) => {
    check("package", args.package, isDebianPackageName, "a Debian package name ([a-z0-9][a-z0-9+.-]+)");
    check("package-version", args["package-version"], isDebianVersion, "a Debian version ([epoch:]upstream[-revision])");
    check("distribution", args.distribution, isArchiveName, "a distribution name");
    check("component", args.component, isArchiveName, "a component name");
    if (args.architecture !== undefined) check("architecture", args.architecture, isArchiveName, "an architecture name");
    if (!Number.isFinite(args.timeout) || args.timeout < 0) throw new CliError("--timeout must be a number of milliseconds", 64);
    if (args.correlationId !== undefined) check("correlation-id", args.correlationId, isUuid, "a uuid");
    const { cliBus } = await import("../cli-bus.ts");
    const bus = cliBus(args, "packages-notify");
    try {
      const envelope = await bus.publish(
        "packages.updates",
        {
          package: args.package,
          version: args["package-version"],
          distribution: args.distribution,
          component: args.component,
          ...(args.architecture === undefined ? {} : { architecture: args.architecture }),
        },
        { correlationId: args.correlationId, confirm: true, timeoutMs: args.timeout },
      );
      process.stdout.write(`${envelope.id}\n`);
    } catch (err) {
      if (err instanceof InvalidMessageError) throw new CliError(err.message, 65);
      throw new CliError(`could not publish: ${(err as Error).message}`, 69);
    } finally {
      await bus.close({ graceMs: 0 });
    }
  },
};

export const packagesCommand: CommandModule<BusArgs, BusArgs> = {
  command: "packages <command>",
  describe: "Talk to the package watchers: tell them a repository changed",
  builder: (yargs: Argv<BusArgs>) => yargs.command(notifyCommand).demandCommand(1, "say what to do: deploykit packages --help"),
  handler: () => {},
};
