import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import { deployId } from "../deploy-id.ts";

interface CancelArgs extends ApiArgs {
  id: string;
}

export const cancelCommand: CommandModule<object, CancelArgs> = {
  command: "cancel <id>",
  describe: "Cancel a queued or running deploy",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("id", { type: "string", demandOption: true, describe: "the deploy id (the ID column of `deploykit history`)" })
      .example("$0 cancel 17", "stop deploy 17")
      .epilogue("Exit status: 0 cancelled; 65 the deploy had already finished; 66 no such deploy; 77 token missing or not allowed."),
  handler: async (args) => {
    const id = deployId(args.id);
    const body = await apiClient(args).cancel(id);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    const { deploy } = body;
    process.stdout.write(`deploy ${deploy.id} (${deploy.app} → ${deploy.environment} #${deploy.number}, ${deploy.ref}) is ${deploy.state}${deploy.message ? `: ${deploy.message}` : ""}\n`);
  },
};
