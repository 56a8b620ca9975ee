import type { Request, Response } from "express";
import { finishedStates } from "../ledger/ledger.ts";
import type { FeedEvent, LiveFeed } from "../live-feed.ts";

export interface StreamDeployOptions {
  request: Request;
  response: Response;
  feed: LiveFeed;
  deployId: number;
  /** The GET /deploys/:id body: sent first, so a client that reconnects starts from the truth. */
  snapshot(): Promise<{ deploy: { id: number; state: string } }>;
  keepaliveMs?: number;
}

/**
 * GET /deploys/:id/stream: server-sent events. Listening starts before the
 * snapshot is read, so nothing that happens in between is lost (a client may
 * see an event the snapshot already shows; every event carries whole records,
 * so applying it twice is harmless). Ends after the deploy finishes.
 */
export async function streamDeploy(options: StreamDeployOptions): Promise<void> {
  const { request, response, feed } = options;
  const early: FeedEvent[] = [];
  let send: (event: FeedEvent) => void = (event) => early.push(event);
  const unsubscribe = feed.subscribe(options.deployId, (event) => send(event));
  let snapshot: Awaited<ReturnType<StreamDeployOptions["snapshot"]>>;
  try {
    snapshot = await options.snapshot();
  } catch (err) {
    unsubscribe();
    throw err;
  }
  response.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    // nginx and similar proxies buffer responses unless told not to.
    "X-Accel-Buffering": "no",
  });
  const write = (event: string, data: unknown) => response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearInterval(keepalive);
    unsubscribe();
    write("end", {});
    response.end();
  };
  const keepalive = setInterval(() => response.write(": keepalive\n\n"), options.keepaliveMs ?? 15_000);
  request.on("close", () => {
    ended = true;
    clearInterval(keepalive);
    unsubscribe();
  });
  write("snapshot", snapshot);
  send = (event) => {
    if (ended) return;
    switch (event.type) {
      case "deploy":
        write("deploy", event.deploy);
        if ((finishedStates as readonly string[]).includes(event.deploy.state)) end();
        return;
      case "host":
        write("host", event.host);
        return;
      case "step":
        write("step", event.step);
        return;
      case "log":
        write("log", { host: event.host, lines: event.lines });
        return;
      default: {
        const never: never = event;
        throw new Error(`unknown feed event ${JSON.stringify(never)}`);
      }
    }
  };
  for (const event of early) send(event);
  if ((finishedStates as readonly string[]).includes(snapshot.deploy.state)) end();
}
