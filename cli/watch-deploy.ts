import type { ApiClient } from "./api-client.ts";
import { ApiError } from "./api-error.ts";
import { finishedStates, type LogLine } from "../shared/api-types.ts";
import { CliError } from "./cli-error.ts";
import { appendLogs, applyDeployEvent, defaultLogTail, type DeployStreamEvent, type DeployView, deployView, parseStreamEvent, troubledHosts } from "./deploy-view.ts";
import { type SseEvent, sseStream } from "./sse-stream.ts";

export interface WatchOptions {
  signal?: AbortSignal;
  /** The conductor sends a keepalive every 15 s; this long without a byte means the connection is gone. */
  idleMs?: number;
  /** Log lines kept per host. */
  tail?: number;
  /** Every event, with the view after it and the event as it came (for --json). */
  onEvent?: (view: DeployView, event: DeployStreamEvent, raw: SseEvent) => void;
  /** The stream dropped and is being re-opened. */
  onNotice?: (text: string) => void;
}

export interface WatchResult {
  view: DeployView;
  /** The deploy reached a final state; false when the stream was lost twice and the deploy still goes on. */
  complete: boolean;
}

/**
 * Follows a deploy's stream until it ends. A stream that drops is re-opened
 * once; after that the deploy's state is fetched once and reported as it is.
 * Either way the result holds the conductor's final word (GET /deploys/:id).
 */
export async function watchDeploy(client: ApiClient, id: number, options: WatchOptions = {}): Promise<WatchResult> {
  const tail = options.tail ?? defaultLogTail;
  let view: DeployView | undefined;
  for (let attempt = 1; attempt <= 2 && !view?.ended; attempt++) {
    let why = "the conductor closed the stream before the deploy finished";
    try {
      const body = await client.stream(id, options.signal);
      for await (const raw of sseStream(body, { idleMs: options.idleMs ?? 45_000 })) {
        const event = parseStreamEvent(raw);
        if (!event) continue;
        if (view) view = applyDeployEvent(view, event, tail);
        else if (event.event === "snapshot") view = deployView(event.data);
        else continue; // the contract puts the snapshot first; anything before it has nothing to apply to
        options.onEvent?.(view, event, raw);
        if (event.event === "end") break;
      }
    } catch (err) {
      // Refusals (404, 401) and Ctrl-C are answers, not a dropped connection.
      if (options.signal?.aborted || err instanceof ApiError) throw err;
      why = (err as Error).message;
    }
    if (!view?.ended && attempt === 1) options.onNotice?.(`lost the deploy stream (${why}); opening it again`);
  }
  let snapshot: Awaited<ReturnType<ApiClient["deploy"]>>;
  try {
    snapshot = await client.deploy(id);
  } catch (err) {
    if (err instanceof CliError && !(err instanceof ApiError)) {
      throw new CliError(`${err.message}. Deploy ${id} may still be running: see it with \`deploykit logs ${id} --follow\` once the conductor is back`, err.exitCode);
    }
    throw err;
  }
  const finished = (v: { deploy: { state: DeployView["deploy"]["state"] } }) => finishedStates.includes(v.deploy.state);
  // The stream's own `end` with a final state is as good an answer as a fetch that lags behind it.
  const final: DeployView = !view
    ? deployView(snapshot)
    : view.ended && finished(view) && !finished(snapshot)
      ? view
      : applyDeployEvent(view, { event: "snapshot", data: snapshot }, tail);
  return { view: final, complete: finished(final) };
}

/** Most hosts whose log is fetched for the final report; past that, `deploykit logs` has them. */
const maxLogFetches = 20;

/**
 * Makes sure each failed host's log tail is in the view, fetching it when the
 * stream did not bring enough (the CLI attached late, or the stream dropped).
 */
export async function withFailureLogs(client: ApiClient, view: DeployView, tail = defaultLogTail): Promise<DeployView> {
  let logs = view.logs;
  const short = troubledHosts(view).filter((h) => (logs[h.host]?.length ?? 0) < tail);
  for (const host of short.slice(0, maxLogFetches)) {
    try {
      logs = appendLogs(logs, host.host, await fetchLogTail(client, view.deploy.id, host.host, tail), tail);
    } catch {
      // The report matters more than its log excerpt: it goes out with what the stream brought.
      break;
    }
  }
  return { ...view, logs };
}

/** The last `count` lines of one host's log: the API pages forward only, so this reads to the end. */
export async function fetchLogTail(client: ApiClient, id: number, host: string, count: number): Promise<LogLine[]> {
  let kept: LogLine[] = [];
  let offset: number | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = await client.deployLog(id, { host, offset, limit: 1000 });
    kept = [...kept, ...page.lines].slice(-count);
    if (page.next === null || page.next === offset || page.lines.length === 0) break;
    offset = page.next;
  }
  return kept;
}
