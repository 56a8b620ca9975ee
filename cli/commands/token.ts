import path from "node:path";
import type { CommandModule } from "yargs";
import { daemons } from "../../daemons/index.ts";
import { TokenFileError, createToken, readTokens, roles, type Role, type TokenInfo } from "../../daemons/conductor/api-tokens.ts";
import { type ConductorConfig, conductorConfig } from "../../daemons/conductor/config.ts";
import { readConfig } from "../../shared/config/read-config.ts";
import { CliError } from "../cli-error.ts";

interface TokenArgs {
  config?: string;
  file?: string;
}

interface CreateArgs extends TokenArgs {
  name: string;
  role: Role;
}

// sysexits.h: a broken tokens file is a configuration problem, a taken name bad input, a write that fails a CANTCREAT.
const exitCodes = { "bad-file": 78, "bad-input": 64, "name-taken": 65, io: 73 } as const satisfies Record<TokenFileError["reason"], number>;

/**
 * --file, else conductor.tokensFile from the configuration (file and
 * environment, as the conductor reads it); left at its packaged default with
 * $DEPLOYKIT_DATA_DIR set, the one `deploykit up` uses in that directory.
 */
async function tokensFile(args: TokenArgs): Promise<string> {
  if (args.file) return args.file;
  const { configSections } = await import("../../shared/run-daemon.ts");
  const loaded = readConfig(configSections(daemons), { file: args.config });
  const configured = (loaded.values.conductor as ConductorConfig).tokensFile;
  const dataDir = process.env.DEPLOYKIT_DATA_DIR;
  if (dataDir && configured === conductorConfig.tokensFile.default) return path.join(dataDir, "conductor", "tokens.yaml");
  return configured;
}

function cliError(err: unknown): unknown {
  return err instanceof TokenFileError ? new CliError(err.message, exitCodes[err.reason]) : err;
}

async function create(args: CreateArgs): Promise<void> {
  const file = await tokensFile(args);
  let token: string;
  try {
    token = createToken(file, { name: args.name, role: args.role });
  } catch (err) {
    throw cliError(err);
  }
  // The token alone on stdout, so `TOKEN=$(deploykit token create …)` captures just it.
  process.stdout.write(`${token}\n`);
  process.stderr.write(`token ${args.name} (${args.role}) added to ${file}\nThis is the only time it is shown: the file stores its sha256 hash, not the token in clear.\n`);
}

async function list(args: TokenArgs): Promise<void> {
  const file = await tokensFile(args);
  let tokens: TokenInfo[];
  try {
    tokens = readTokens(file).list();
  } catch (err) {
    throw cliError(err);
  }
  if (tokens.length === 0) {
    process.stderr.write(`no tokens in ${file}: deploykit token create <name> --role <role> makes one\n`);
    return;
  }
  const width = Math.max(4, ...tokens.map((token) => token.name.length));
  const rows = [`${"NAME".padEnd(width)}  ROLE      CREATED`, ...tokens.map((token) => `${token.name.padEnd(width)}  ${token.role.padEnd(8)}  ${token.created}`)];
  process.stdout.write(`${rows.join("\n")}\n`);
}

export const tokenCommand: CommandModule<{ config?: string }, { config?: string }> = {
  command: "token <action>",
  describe: "Make and list the conductor's API tokens (viewer, deployer, admin)",
  builder: (yargs) =>
    yargs
      .command(
        "create <name>",
        "Add a token and print it, once: the tokens file keeps only its hash",
        (command) =>
          command
            .positional("name", { type: "string", demandOption: true, describe: "who holds it, recorded on every deploy they make ([a-z0-9][a-z0-9._-]*)" })
            .option("role", { choices: roles, demandOption: true, describe: "viewer: read; deployer: also deploy, cancel, roll back; admin: also lock and force" })
            .option("file", { type: "string", describe: "tokens file (default: conductor.tokensFile)" })
            .example("$0 token create alice --role deployer", "a token for alice to deploy with")
            .example("$0 token create ci --role deployer --file ./tokens.yaml", "into another file"),
        (args) => create(args as CreateArgs),
      )
      .command(
        "list",
        "List the tokens: name, role, when each was made (never the tokens themselves)",
        (command) => command.option("file", { type: "string", describe: "tokens file (default: conductor.tokensFile)" }),
        (args) => list(args as TokenArgs),
      )
      .demandCommand(1, "say what to do: deploykit token create <name> --role <role>, or deploykit token list"),
  handler: () => {},
};
