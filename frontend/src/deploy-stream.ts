import type { Deploy, DeployHost, DeploySnapshot, LogLine, Step } from "../../shared/api-types.ts";
import { type Api, apiBase } from "./api.ts";

export type StreamEvent =
  | { type: "snapshot"; data: DeploySnapshot }
  | { type: "deploy"; data: Deploy }
  | { type: "host"; data: DeployHost }
  | { type: "step"; data: Step }
  | { type: "log"; data: { host: string; lines: LogLine[] } }
  | { type: "end" };

export type StreamStatus = "connecting" | "live" | "reconnecting" | "ended" | "refused";

export interface FollowOptions {
  onEvent(event: StreamEvent): void;
  onStatus(status: StreamStatus, detail?: string): void;
  signal: AbortSignal;
}

/**
 * GET /deploys/:id/stream read with fetch, not EventSource: EventSource
 * cannot send the Authorization header, and a token must not go in a URL.
 * A stream that drops before `end` is opened again (1 s, 2 s, 4 s… at most
 * 15 s apart); each connection starts with a fresh snapshot, so nothing
 * missed in between is lost.
 */
export async function followDeploy(api: Api, id: number, options: FollowOptions): Promise<void> {
  const { signal } = options;
  let delay = 1000;
  for (let attempt = 0; !signal.aborted; attempt++) {
    options.onStatus(attempt === 0 ? "connecting" : "reconnecting");
    let ended = false;
    try {
      const response = await fetch(new URL(`deploys/${id}/stream`, apiBase), { headers: { ...api.headers(), accept: "text/event-stream" }, signal });
      if (response.status === 401) {
        api.onUnauthenticated();
        return;
      }
      // No such deploy, or not allowed: asking again will not change the answer.
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        const body = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
        options.onStatus("refused", body?.error?.message ?? `the stream answered ${response.status}`);
        return;
      }
      if (!response.ok || response.body === null) throw new Error(`the stream answered ${response.status}`);
      options.onStatus("live");
      delay = 1000;
      for await (const event of readEvents(response.body)) {
        options.onEvent(event);
        if (event.type === "end") ended = true;
      }
    } catch (err) {
      if (signal.aborted) return;
      options.onStatus("reconnecting", (err as Error).message);
    }
    if (ended) {
      options.onStatus("ended");
      return;
    }
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 15_000);
  }
}

/** text/event-stream: `event:` and `data:` lines, a blank line ends an event, `:` lines are comments. */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<StreamEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "message";
  let data: string[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      newline = buffer.indexOf("\n");
      if (line === "") {
        if (data.length > 0) {
          const parsed = data.join("\n") === "" ? {} : JSON.parse(data.join("\n"));
          yield { type: name, data: parsed } as StreamEvent;
        }
        name = "message";
        data = [];
      } else if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
