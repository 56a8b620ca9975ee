import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import type { App } from "../../shared/api-types.ts";
import { CliError } from "../cli-error.ts";
import { renderStatus } from "../render-listings.ts";

interface StatusArgs extends ApiArgs {
  app?: string;
  env?: string;
}

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: "status [app]",
  describe: "What runs where: each environment's hosts with their release, and what is deploying, queued or locked",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", describe: "only this app" })
      .option("env", { alias: "e", type: "string", describe: "only this environment" })
      .example("$0 status", "every app and environment")
      .example("$0 status shop --env production", "one environment"),
  handler: async (args) => {
    const client = apiClient(args);
    const body = args.app ? await client.app(args.app) : await client.apps();
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    let apps: App[] = "apps" in body ? body.apps : [body];
    if (args.env) {
      apps = apps.map((app) => ({ ...app, environments: app.environments.filter((env) => env.name === args.env) })).filter((app) => app.environments.length > 0);
      if (apps.length === 0) throw new CliError(`no environment "${args.env}"${args.app ? ` in ${args.app}` : ""}: \`deploykit status${args.app ? ` ${args.app}` : ""}\` lists them`, 66);
    }
    for (const line of renderStatus(apps, { now: Date.now() })) process.stdout.write(`${line}\n`);
  },
};
