import { readFileSync } from "node:fs";
import type { CommandModule } from "yargs";
import { z } from "zod";
import { InvalidMessageError } from "../../shared/bus/bus.ts";
import { describeIssues, makeEnvelope } from "../../shared/bus/envelope-codec.ts";
import { readSigningKey, signDeployRequest, type UnsignedDeployRequest } from "../../shared/deploy-signature.ts";
import { topicDef, topicNames, type TopicName } from "../../shared/messages/index.ts";
import { publishOrSpool } from "../../shared/spool/publish-or-spool.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";
import { cliSpool, oneLine, spoolOption, spoolReport } from "../cli-spool.ts";

interface PublishArgs extends BusArgs {
  topic: string;
  body: string;
  correlationId?: string;
  timeout: number;
  spool?: string | boolean;
  signKey?: string;
}

/** sysexits.h EX_TEMPFAIL: the message is safe in the spool and will be delivered later. */
export const spooledExitCode = 75;

export const publishCommand: CommandModule<BusArgs, PublishArgs> = {
  command: "publish <topic> <body>",
  describe: "Wrap a JSON body in an envelope, validate it, publish it and print the envelope id",
  builder: (yargs) =>
    yargs
      .positional("topic", { type: "string", demandOption: true, describe: `one of: ${topicNames().join(", ")}` })
      .positional("body", { type: "string", demandOption: true, describe: "the message body as JSON, or - to read it from stdin" })
      .option("correlation-id", { type: "string", describe: "continue an existing chain (a uuid)" })
      .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker" })
      .option("spool", spoolOption)
      .option("sign-key", {
        type: "string",
        describe: "deploy.requests only: sign the body with this Ed25519 private key (fills issuedAt, nonce, keyId, signature)",
      })
      .example("$0 publish events '{\"text\":\"hello\"}'", "say hello to everyone tailing the bus")
      .example(
        "$0 publish deploy.requests --sign-key conductor.key '{\"deployId\":\"d-1\",\"app\":\"shop\",\"environment\":\"production\",\"ref\":\"refs/tags/v1.2.0\",\"sha\":\"…\",\"target\":{\"identities\":[\"web-1\"]},\"ttl\":60}'",
        "deploy a tag to one server by hand",
      )
      .epilogue(
        "Before publishing, messages spooled earlier are delivered (oldest first). When the bus cannot be reached, " +
          `the message is spooled, its id printed all the same, and the exit status is ${spooledExitCode}; ` +
          "69 means it was neither published nor spooled.",
      ),
  handler: async (args) => {
    if (!topicDef(args.topic)) throw new CliError(`unknown topic "${args.topic}": use one of ${topicNames().join(", ")}`, 64);
    const text = args.body === "-" ? readFileSync(0, "utf8") : args.body;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      throw new CliError(`the body is not JSON: ${(err as Error).message}`, 65);
    }
    if (args.signKey !== undefined) body = signedBody(args.topic, body, args.signKey);
    // The bus client loads only now: every other command is spared the transports and the logger.
    const [{ cliBus, cliConfig }, { hostName }] = await Promise.all([import("../cli-bus.ts"), import("../../shared/bus/bus-from-config.ts")]);
    const values = cliConfig(args);
    const spool = cliSpool(args.spool, values);
    let envelope: ReturnType<typeof makeEnvelope>;
    try {
      envelope = makeEnvelope(args.topic, body, { component: "cli", host: hostName(values.bus) }, args.correlationId);
    } catch (err) {
      if (err instanceof InvalidMessageError) throw new CliError(err.message, 65);
      throw err;
    }
    const bus = cliBus(args, "cli", { values });
    try {
      const result = await publishOrSpool(bus, [{ topic: args.topic as TopicName, envelope }], { timeoutMs: args.timeout, spool });
      const failed = result.failed[0];
      if (failed) {
        const why = result.busError && result.busError !== failed.error ? `${result.busError.message}; could not spool: ` : "";
        throw new CliError(`could not publish: ${why}${failed.error.message}`, 69);
      }
      process.stdout.write(`${envelope.id}\n`);
      const report = spoolReport(result, spool);
      if (report.length > 0) process.stderr.write(`deploykit: warning: ${oneLine(report)}\n`);
      if (result.spooled.length > 0) process.exitCode = spooledExitCode;
    } finally {
      await bus.close({ graceMs: 0 });
    }
  },
};

function signedBody(topic: string, body: unknown, keyFile: string): unknown {
  if (topic !== "deploy.requests") throw new CliError("--sign-key signs deploy.requests only", 64);
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new CliError("the body must be a JSON object", 65);
  let key: ReturnType<typeof readSigningKey>;
  try {
    key = readSigningKey(keyFile);
  } catch (err) {
    throw new CliError((err as Error).message, 66);
  }
  try {
    return signDeployRequest(body as UnsignedDeployRequest, key);
  } catch (err) {
    throw new CliError(`the deploy request is not valid: ${err instanceof z.ZodError ? describeIssues(err) : (err as Error).message}`, 65);
  }
}
