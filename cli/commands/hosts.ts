import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import { renderHosts } from "../render-listings.ts";

export const hostsCommand: CommandModule<object, ApiArgs> = {
  command: "hosts",
  describe: "Every host the conductor has heard from: alive or missing, last seen, its apps and releases, agent version",
  builder: (yargs) => apiArgs(yargs).example("$0 hosts", "the fleet as the conductor sees it"),
  handler: async (args) => {
    const body = await apiClient(args).hosts();
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    for (const line of renderHosts(body.hosts, { now: Date.now() })) process.stdout.write(`${line}\n`);
  },
};
