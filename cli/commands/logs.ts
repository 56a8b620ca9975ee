import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, type ApiClient, apiClient } from "../api-client.ts";
import { finishedStates, type LogLine } from "../../shared/api-types.ts";
import { CliError } from "../cli-error.ts";
import { deployId } from "../deploy-id.ts";
import { renderSummary } from "../render-deploy.ts";
import { watchDeploy } from "../watch-deploy.ts";

interface LogsArgs extends ApiArgs {
  id: string;
  host?: string;
  follow: boolean;
}

export const logsCommand: CommandModule<object, LogsArgs> = {
  command: "logs <id>",
  describe: "Print a deploy's log as `host | line`, and with --follow keep printing until the deploy ends",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("id", { type: "string", demandOption: true, describe: "the deploy id (the ID column of `deploykit history`)" })
      .option("host", { type: "string", describe: "only this host's lines" })
      .option("follow", { alias: "f", type: "boolean", default: false, describe: "keep printing new lines until the deploy ends (Ctrl-C stops, the deploy goes on)" })
      .example("$0 logs 17 --host web-2", "what web-2 said during deploy 17")
      .example("$0 logs 17 -f", "watch a running deploy's output"),
  handler: async (args) => {
    const id = deployId(args.id);
    const client = apiClient(args);
    const snapshot = await client.deploy(id);
    const names = snapshot.hosts.map((h) => h.host);
    // A queued deploy has no hosts yet: its --host is taken on trust.
    if (args.host !== undefined && names.length > 0 && !names.includes(args.host)) {
      throw new CliError(`${args.host} is not a host of deploy ${id}: its hosts are ${names.join(", ")}`, 66);
    }
    const printer = new LinePrinter(args.json, Math.max(0, ...names.map((n) => n.length)));
    if (!args.follow || finishedStates.includes(snapshot.deploy.state)) {
      await printBacklog(client, id, args.host === undefined ? names : [args.host], printer);
      return;
    }
    await follow(client, id, args, args.host === undefined ? names : [args.host], printer);
  },
};

/** Prints lines once each: a line the backlog and the stream both carry is told apart by its host and offset. */
class LinePrinter {
  readonly #json: boolean;
  readonly #width: number;
  readonly #printed = new Map<string, number>();
  constructor(json: boolean, width: number) {
    this.#json = json;
    this.#width = width;
  }

  lines(lines: readonly LogLine[]): void {
    const fresh = lines.filter((line) => line.offset > (this.#printed.get(line.host) ?? -1));
    for (const line of fresh) this.#printed.set(line.host, line.offset);
    if (this.#json) return;
    const text = fresh.map((line) => `${line.host.padEnd(this.#width)} | ${line.text}\n`).join("");
    if (text) process.stdout.write(text);
  }

  json(value: unknown): void {
    if (this.#json) process.stdout.write(`${JSON.stringify(value)}\n`);
  }
}

/**
 * Every line so far, host after host: the API pages only within one host (without
 * one it answers a single page of all hosts), and one host's log read whole is
 * easier to follow than lines of many hosts interleaved.
 */
async function printBacklog(client: ApiClient, id: number, hosts: readonly string[], printer: LinePrinter): Promise<void> {
  for (const host of hosts) {
    let offset: number | undefined;
    for (;;) {
      const page = await client.deployLog(id, { host, offset, limit: 1000 });
      printer.json(page);
      printer.lines(page.lines);
      // `next` is where the following page starts; null, or no progress, means this is all there is so far.
      if (page.next === null || page.next === offset || page.lines.length === 0) break;
      offset = page.next;
    }
  }
}

/** Opens the stream first and then reads the backlog, so no line falls between the two. */
async function follow(client: ApiClient, id: number, args: LogsArgs, hosts: readonly string[], printer: LinePrinter): Promise<void> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  let backlogDone = false;
  const buffered: LogLine[][] = [];
  let connected: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const watching = watchDeploy(client, id, {
    signal: abort.signal,
    onEvent: (_view, event, raw) => {
      connected();
      if (args.json && (args.host === undefined || event.event !== "log" || event.data.host === args.host)) printer.json({ event: raw.event, data: event.data });
      if (event.event !== "log" || (args.host !== undefined && event.data.host !== args.host)) return;
      if (backlogDone) printer.lines(event.data.lines);
      else buffered.push(event.data.lines);
    },
    onNotice: (text) => process.stderr.write(`deploykit: ${text}\n`),
  });
  try {
    await Promise.race([opened, watching]);
    await printBacklog(client, id, hosts, printer);
    backlogDone = true;
    for (const lines of buffered.splice(0)) printer.lines(lines);
    const result = await watching;
    if (!result.complete) throw new CliError(`lost the stream twice; deploy ${id} is still ${result.view.deploy.state}: run this again to keep following it`, 69);
    process.stderr.write(`${renderSummary(result.view, Date.now())}\n`);
  } catch (err) {
    // Ctrl-C is how one stops following, as with tail -f.
    if (!abort.signal.aborted) throw err;
  } finally {
    abort.abort();
    await watching.catch(() => {});
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
