import type { CommandModule } from "yargs";
import { topicDef, topicNames, type TopicName } from "../../shared/messages/index.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";

interface TailArgs extends BusArgs {
  topics: string[];
  count?: number;
  timeout: number;
}

export const tailCommand: CommandModule<BusArgs, TailArgs> = {
  command: "tail <topics..>",
  describe: "Print every message on the given topics as one JSON line each",
  builder: (yargs) =>
    yargs
      .positional("topics", { type: "string", array: true, demandOption: true, describe: `any of: ${topicNames().join(", ")}` })
      .option("count", { type: "number", describe: "exit after this many messages" })
      .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker at start" })
      .example("$0 tail deploy.progress deploy.results", "watch deploys as they happen")
      .example("$0 tail deadletter", "see what the swarm refused, and why"),
  handler: async (args) => {
    const unknown = args.topics.filter((topic) => !topicDef(topic));
    if (unknown.length > 0) throw new CliError(`unknown topic ${unknown.map((t) => `"${t}"`).join(", ")}: use any of ${topicNames().join(", ")}`, 64);
    const { cliBus } = await import("../cli-bus.ts");
    const bus = cliBus(args, "tail");
    let seen = 0;
    const done = new Promise<void>((resolve) => {
      const finish = () => resolve();
      process.once("SIGINT", finish);
      process.once("SIGTERM", finish);
      const count = () => {
        seen++;
        if (args.count !== undefined && seen >= args.count) resolve();
      };
      const subscribe = async () => {
        await bus.connected(args.timeout);
        for (const topic of args.topics) {
          await bus.subscribe(
            topic as TopicName,
            (message) => {
              if (args.count !== undefined && seen >= args.count) return;
              process.stdout.write(`${JSON.stringify(message)}\n`);
              count();
            },
            {
              // An observer: invalid messages are shown here, and dead-lettered by the daemons that own the topic.
              deadletter: false,
              onInvalid: (reason, raw) => {
                process.stdout.write(`${JSON.stringify({ topic, invalid: reason, raw })}\n`);
                count();
              },
            },
          );
        }
        process.stderr.write(`tail: listening on ${args.topics.join(", ")} at ${bus.description}\n`);
      };
      subscribe().catch((err: Error) => {
        process.stderr.write(`tail: ${err.message}\n`);
        process.exitCode = 69;
        resolve();
      });
    });
    await done;
    await bus.close({ graceMs: 1000 });
  },
};
