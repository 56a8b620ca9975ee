// A reader of server-sent events (the WHATWG "text/event-stream" format) over
// fetch's body. The CLI never reconnects on its own, so `retry:` is ignored and
// `id:` is only reported.

export interface SseEvent {
  /** "message" when the server named none. */
  event: string;
  data: string;
  /** The last `id:` seen, carried over events as the format says. */
  id: string;
}

/** Turns text, in chunks cut anywhere, into events. */
export class SseParser {
  #buffer = "";
  #started = false;
  /** The previous chunk ended in "\r": a "\n" opening this one is part of that line break. */
  #afterCr = false;
  #event = "";
  #data: string[] = [];
  #id = "";
  /** Comment lines seen (`: keepalive`), for whoever watches for a dead stream. */
  comments = 0;

  push(text: string): SseEvent[] {
    if (text.length === 0) return [];
    if (!this.#started) {
      this.#started = true;
      if (text.startsWith("\uFEFF")) text = text.slice(1);
    }
    if (this.#afterCr && text.startsWith("\n")) text = text.slice(1);
    this.#afterCr = false;
    this.#buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.#buffer.length; i++) {
      const c = this.#buffer[i];
      if (c !== "\n" && c !== "\r") continue;
      const line = this.#buffer.slice(start, i);
      if (c === "\r") {
        if (i + 1 === this.#buffer.length) this.#afterCr = true;
        else if (this.#buffer[i + 1] === "\n") i++;
      }
      start = i + 1;
      const event = this.#line(line);
      if (event) events.push(event);
    }
    this.#buffer = this.#buffer.slice(start);
    return events;
  }

  #line(line: string): SseEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) {
      this.comments++;
      return undefined;
    }
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data.push(value);
        break;
      case "id":
        if (!value.includes("\0")) this.#id = value;
        break;
      default:
        // retry: and unknown fields are ignored, as the format says.
        break;
    }
    return undefined;
  }

  #dispatch(): SseEvent | undefined {
    const event = this.#event || "message";
    const data = this.#data;
    this.#event = "";
    this.#data = [];
    if (data.length === 0) return undefined;
    return { event, data: data.join("\n"), id: this.#id };
  }
}

/** Nothing, not even a keepalive comment, arrived for `idleMs`: the connection is as good as dead. */
export class SseIdleError extends Error {
  constructor(idleMs: number) {
    super(`no data from the stream for ${Math.round(idleMs / 1000)}s`);
    this.name = "SseIdleError";
  }
}

/** The events of a text/event-stream body, until the server closes it. An event cut off by the close is dropped. */
export async function* sseStream(body: ReadableStream<Uint8Array>, options: { idleMs?: number } = {}): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, options.idleMs);
      if (done) {
        yield* parser.push(decoder.decode());
        return;
      }
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    // Ends the HTTP request when the caller stops early (break, throw, idle).
    await reader.cancel().catch(() => {});
  }
}

async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, idleMs: number | undefined): Promise<Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>> {
  if (idleMs === undefined) return reader.read();
  let timer: NodeJS.Timeout | undefined;
  const idle = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SseIdleError(idleMs)), idleMs);
  });
  try {
    return await Promise.race([reader.read(), idle]);
  } finally {
    clearTimeout(timer);
  }
}
