import { readFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { InvalidMessageError } from "../../shared/bus/bus.ts";
import { topicDef, topicNames, type TopicName } from "../../shared/messages/index.ts";
import { type BusArgs, cliBus } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";

interface PublishArgs extends BusArgs {
  topic: string;
  body: string;
  correlationId?: string;
  timeout: number;
}

export const publishCommand: CommandModule<BusArgs, PublishArgs> = {
  command: "publish <topic> <body>",
  describe: "Wrap a JSON body in an envelope, validate it, publish it and print the envelope id",
  builder: (yargs) =>
    yargs
      .positional("topic", { type: "string", demandOption: true, describe: `one of: ${topicNames().join(", ")}` })
      .positional("body", { type: "string", demandOption: true, describe: "the message body as JSON, or - to read it from stdin" })
      .option("correlation-id", { type: "string", describe: "continue an existing chain (a uuid)" })
      .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker" })
      .example("$0 publish events '{\"text\":\"hello\"}'", "say hello to everyone tailing the bus"),
  handler: async (args) => {
    if (!topicDef(args.topic)) throw new CliError(`unknown topic "${args.topic}": use one of ${topicNames().join(", ")}`, 64);
    const text = args.body === "-" ? readFileSync(0, "utf8") : args.body;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new CliError(`the body is not JSON: ${(err as Error).message}`, 65);
    }
    const bus = cliBus(args);
    try {
      const envelope = await bus.publish(args.topic as TopicName, body as never, {
        correlationId: args.correlationId,
        confirm: true,
        timeoutMs: args.timeout,
      });
      process.stdout.write(`${envelope.id}\n`);
    } catch (err) {
      if (err instanceof InvalidMessageError) throw new CliError(err.message, 65);
      throw new CliError(`could not publish: ${(err as Error).message}`, 69);
    } finally {
      await bus.close({ graceMs: 0 });
    }
  },
};
