import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient, type ApiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import { deployId } from "../deploy-id.ts";
import { followOptions, followRollout } from "../follow-rollout.ts";

interface RollbackArgs extends ApiArgs {
  app?: string;
  env?: string;
  deploy?: string;
  wait: boolean;
  plain: boolean;
}

export const rollbackCommand: CommandModule<object, RollbackArgs> = {
  command: "rollback [app]",
  describe: "Go back to the last release that succeeded before the newest deploy of an app's environment",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", describe: "the app (with --env)" })
      .option("env", { alias: "e", type: "string", describe: "the environment whose newest deploy is undone" })
      .option("deploy", { type: "string", describe: "undo this deploy (an id from `deploykit history`) instead of the newest one" })
      .options(followOptions)
      .example("$0 rollback shop --env production", "undo the newest deploy of shop to production")
      .example("$0 rollback --deploy 17", "undo deploy 17: redeploy what succeeded before it, on the same hosts")
      .epilogue("Exit status: 0 the rollback succeeded; 1 it failed, was cancelled or interrupted; 65 nothing to roll back to; 66 no such app, environment or deploy; 75 environment locked or a deploy still running; 69 conductor unreachable; 77 token missing or not allowed."),
  handler: async (args) => {
    const client = apiClient(args);
    const id = args.deploy !== undefined ? deployId(args.deploy, "--deploy") : await newestDeploy(client, args);
    const created = await client.rollback(id);
    await followRollout(client, created, args);
  },
};

/** The deploy a rollback undoes: the newest of the app and environment that did anything (a queued one has not). */
async function newestDeploy(client: ApiClient, args: RollbackArgs): Promise<number> {
  if (!args.app || !args.env) throw new CliError("say what to roll back: `deploykit rollback <app> --env <env>`, or `deploykit rollback --deploy <id>`", 64);
  const { deploys } = await client.deploys({ app: args.app, environment: args.env, limit: 20 });
  const newest = deploys.find((d) => d.state !== "queued");
  if (!newest) throw new CliError(`${args.app} → ${args.env} has no deploy to roll back yet: \`deploykit history ${args.app} --env ${args.env}\` lists its deploys`, 65);
  if (newest.state === "running") {
    // Rolling back now would queue the rollback behind the very deploy it undoes.
    throw new CliError(
      `deploy ${newest.id} (#${newest.number}, ${newest.ref}) of ${args.app} → ${args.env} is still running: stop it with \`deploykit cancel ${newest.id}\`, then roll back`,
      75,
    );
  }
  return newest.id;
}
