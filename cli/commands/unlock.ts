import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";

interface UnlockArgs extends ApiArgs {
  app: string;
  env: string;
}

export const unlockCommand: CommandModule<object, UnlockArgs> = {
  command: "unlock <app>",
  describe: "Lift an environment's lock (admin tokens only)",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", demandOption: true, describe: "the app" })
      .option("env", { alias: "e", type: "string", demandOption: true, describe: "the environment to unlock" })
      .example("$0 unlock shop --env production", "deploys may start again")
      .epilogue("Exit status: 0 unlocked; 66 it was not locked (or no such app or environment); 77 token missing or not allowed."),
  handler: async (args) => {
    const body = await apiClient(args).unlock(args.app, args.env);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    process.stdout.write(`unlocked ${args.app} → ${args.env}\n`);
  },
};
