import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import type { DeployState } from "../../shared/api-types.ts";
import { CliError } from "../cli-error.ts";
import { deployId } from "../deploy-id.ts";
import { renderHistory } from "../render-listings.ts";

interface HistoryArgs extends ApiArgs {
  app?: string;
  env?: string;
  state?: DeployState;
  limit: number;
  before?: string;
}

const states = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"] as const satisfies readonly DeployState[];

export const historyCommand: CommandModule<object, HistoryArgs> = {
  command: "history [app]",
  describe: "Past and current deploys, newest first: who deployed what, where, when, and how it went",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", describe: "only this app" })
      .option("env", { alias: "e", type: "string", describe: "only this environment" })
      .option("state", { type: "string", choices: states, describe: "only deploys in this state" })
      .option("limit", { alias: "n", type: "number", default: 20, describe: "how many deploys" })
      .option("before", { type: "string", describe: "only deploys older than this id (the next page)" })
      .example("$0 history shop --env production", "the last 20 deploys of shop to production")
      .example("$0 history --state failed --limit 5", "the last 5 failures, any app"),
  handler: async (args) => {
    if (!Number.isInteger(args.limit) || args.limit < 1) throw new CliError(`--limit must be a whole number above 0, not ${args.limit}`, 64);
    const client = apiClient(args);
    const body = await client.deploys({
      app: args.app,
      environment: args.env,
      state: args.state,
      limit: args.limit,
      before: args.before === undefined ? undefined : deployId(args.before, "--before"),
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    for (const line of renderHistory(body.deploys, { now: Date.now() })) process.stdout.write(`${line}\n`);
  },
};
