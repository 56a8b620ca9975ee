import type { ApiClient } from "./api-client.ts";
import type { Deploy } from "../shared/api-types.ts";
import { CliError } from "./cli-error.ts";
import type { DeployView } from "./deploy-view.ts";
import { LiveFrame } from "./live-frame.ts";
import { renderDeployEvent } from "./render-deploy-event.ts";
import { renderDeploy, renderFailureLogs, renderSummary } from "./render-deploy.ts";
import { watchDeploy, withFailureLogs } from "./watch-deploy.ts";

export interface FollowArgs {
  json: boolean;
  plain: boolean;
  wait: boolean;
}

/** Exit status of a rollout that finished without succeeding (failed, cancelled, interrupted). */
export const rolloutFailedExitCode = 1;
/** The operator pressed Ctrl-C: the deploy goes on without us. */
export const detachedExitCode = 130;

export interface FollowOutput {
  out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };
  err: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const processOutput = (): FollowOutput => ({ out: process.stdout, err: process.stderr, env: process.env });

/** The options deploy and rollback share for following what they started. */
export const followOptions = {
  wait: { type: "boolean", default: true, describe: "follow the rollout until it ends and exit 1 unless it succeeded (--no-wait: print the deploy and exit)" },
  plain: { type: "boolean", default: false, describe: "one line per event, even on a terminal" },
} as const;

/**
 * What `deploy` and `rollback` do once the conductor accepted the deploy: say
 * so, or follow it to the end and leave the report on screen. Sets the exit
 * status from the deploy's final state.
 */
export async function followRollout(client: ApiClient, created: { deploy: Deploy }, args: FollowArgs, io: FollowOutput = processOutput()): Promise<void> {
  const { deploy } = created;
  if (args.json) io.out.write(`${JSON.stringify(created)}\n`);
  else io.err.write(`${deploy.action} #${deploy.number} of ${deploy.app} → ${deploy.environment} is ${deploy.state} (deploy ${deploy.id})\n`);
  if (!args.wait) {
    if (!args.json) io.out.write(`${deploy.id}\n`);
    return;
  }
  const live = !args.json && !args.plain && io.out.isTTY === true;
  const color = live && !io.env.NO_COLOR && io.env.TERM !== "dumb";
  const frame = live ? new LiveFrame(io.out) : undefined;
  let latest: DeployView | undefined;
  const draw = () => {
    if (frame && latest) frame.draw(renderDeploy(latest, { now: Date.now(), color, maxLines: frame.maxLines }));
  };
  let pending: NodeJS.Timeout | undefined;
  // Events come in bursts (a batch's hosts finishing together): one redraw per burst.
  const redraw = () => {
    pending = undefined;
    draw();
  };
  const ticker = frame ? setInterval(draw, 1000) : undefined;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let result: Awaited<ReturnType<typeof watchDeploy>>;
  try {
    result = await watchDeploy(client, deploy.id, {
      signal: abort.signal,
      onEvent: (view, event, raw) => {
        latest = view;
        if (args.json) io.out.write(`${JSON.stringify({ event: raw.event, data: event.data })}\n`);
        else if (frame) pending ??= setTimeout(redraw, 50);
        else for (const line of renderDeployEvent(view, event, { now: Date.now() })) io.out.write(`${line}\n`);
      },
      onNotice: (text) => {
        if (!frame) io.err.write(`deploykit: ${text}\n`);
      },
    });
  } catch (err) {
    if (abort.signal.aborted) {
      throw new CliError(
        `stopped watching; deploy ${deploy.id} goes on: \`deploykit logs ${deploy.id} --follow\` to watch it, \`deploykit cancel ${deploy.id}\` to stop it`,
        detachedExitCode,
      );
    }
    throw err;
  } finally {
    clearInterval(ticker);
    clearTimeout(pending);
    frame?.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const view = await withFailureLogs(client, result.view);
  if (args.json) {
    // The stream ended early: the last word is the fetched state, in the stream's own shape.
    const { deploy: last, hosts, steps, batches } = view;
    if (!result.complete) io.out.write(`${JSON.stringify({ event: "snapshot", data: { deploy: last, hosts, steps, batches } })}\n`);
  } else {
    const now = Date.now();
    const report = frame ? renderDeploy(view, { now, color }) : [];
    for (const line of [...report, ...renderFailureLogs(view, { color }), "", renderSummary(view, now)]) io.out.write(`${line}\n`);
  }
  exitFor(view, result.complete);
}

function exitFor(view: DeployView, complete: boolean): void {
  const { deploy } = view;
  if (!complete) {
    throw new CliError(
      `lost the stream twice; deploy ${deploy.id} is still ${deploy.state}: \`deploykit logs ${deploy.id} --follow\` to watch it`,
      69,
    );
  }
  if (deploy.state !== "succeeded") process.exitCode = rolloutFailedExitCode;
}
