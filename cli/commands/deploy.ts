import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import { CliError } from "../cli-error.ts";
import { followOptions, followRollout } from "../follow-rollout.ts";

interface DeployArgs extends ApiArgs {
  app: string;
  ref: string;
  env: string;
  hosts?: string;
  force: boolean;
  wait: boolean;
  plain: boolean;
}

export const deployCommand: CommandModule<object, DeployArgs> = {
  command: "deploy <app> <ref>",
  describe: "Deploy a tag, branch or commit of an app to an environment, and follow the rollout",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", demandOption: true, describe: "the app, as the conductor's apps.d names it" })
      .positional("ref", { type: "string", demandOption: true, describe: "a tag, branch or commit sha" })
      .option("env", { alias: "e", type: "string", demandOption: true, describe: "the environment to deploy to" })
      .option("hosts", { type: "string", describe: "only these hosts of the environment, comma-separated" })
      .option("force", { type: "boolean", default: false, describe: "deploy although CI has not passed for that commit (admin tokens only)" })
      .options(followOptions)
      .example("$0 deploy shop v2.3.1 --env production", "roll v2.3.1 out, canary first, and watch it")
      .example("$0 deploy shop main --env staging --hosts web-1,web-2 --no-wait", "start it, print the deploy id, return")
      .epilogue("Exit status: 0 succeeded; 1 failed, cancelled or interrupted; 65 refused (bad ref, CI gate, no hosts); 75 environment locked; 69 conductor unreachable; 77 token missing or not allowed; 130 stopped watching (Ctrl-C; the deploy goes on)."),
  handler: async (args) => {
    const hosts = args.hosts === undefined ? undefined : hostList(args.hosts);
    const client = apiClient(args);
    const created = await client.createDeploy({
      app: args.app,
      environment: args.env,
      ref: args.ref,
      ...(hosts ? { hosts } : {}),
      ...(args.force ? { force: true } : {}),
    });
    await followRollout(client, created, args);
  },
};

function hostList(raw: string): string[] {
  const hosts = raw
    .split(",")
    .map((host) => host.trim())
    .filter((host) => host !== "");
  if (hosts.length === 0) throw new CliError("--hosts needs at least one host name (comma-separated), or leave it out to deploy to the whole environment", 64);
  return [...new Set(hosts)];
}
