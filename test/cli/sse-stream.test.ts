import { readFileSync } from "node:fs";
import test from "ava";
import { type SseEvent, SseIdleError, SseParser, sseStream } from "../../cli/sse-stream.ts";

const recorded = readFileSync(new URL("../../../test/fixtures/conductor/failed-rollout.sse", import.meta.url));

/** A body like fetch's, delivering exactly these chunks. */
function body(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of sseStream(stream)) events.push(event);
  return events;
}

const bytes = (text: string) => new TextEncoder().encode(text);

test("the recorded stream gives the same events however its bytes are cut in two", async (t) => {
  const whole = await collect(body([recorded]));
  t.deepEqual(
    whole.map((e) => e.event),
    ["snapshot", "step", "step", "step", "log", "step", "host", "host", "host", "step", "step", "log", "step", "host", "step", "host", "host", "deploy", "end"],
  );
  for (let cut = 1; cut < recorded.length; cut += 7) {
    t.deepEqual(await collect(body([recorded.subarray(0, cut), recorded.subarray(cut)])), whole, `cut at byte ${cut}`);
  }
  const oneByteAtATime = Array.from(recorded, (byte) => Uint8Array.of(byte));
  t.deepEqual(await collect(body(oneByteAtATime)), whole);
});

test("data lines join with newlines, comments are counted, ids carry over, unnamed events are messages", (t) => {
  const parser = new SseParser();
  const events = parser.push(": keepalive\n\nid: 7\nevent: log\ndata: {\"a\":\ndata:1}\n\ndata: plain\n\n: keepalive\n");
  t.deepEqual(events, [
    { event: "log", data: '{"a":\n1}', id: "7" },
    { event: "message", data: "plain", id: "7" },
  ]);
  t.is(parser.comments, 2);
});

test("an event with no data is not dispatched, and its name does not leak into the next", (t) => {
  const parser = new SseParser();
  t.deepEqual(parser.push("event: end\n\ndata: x\n\n"), [{ event: "message", data: "x", id: "" }]);
});

test("CRLF, CR and LF all end lines, even with the CR and LF in different chunks", (t) => {
  const parser = new SseParser();
  const events = [...parser.push("event: a\r"), ...parser.push("\ndata: 1\r"), ...parser.push(""), ...parser.push("\n\r"), ...parser.push("data: 2\r\r")];
  t.deepEqual(events, [
    { event: "a", data: "1", id: "" },
    { event: "message", data: "2", id: "" },
  ]);
});

test("a field without a colon has an empty value; only one space after the colon is dropped; unknown fields and retry are ignored", (t) => {
  const parser = new SseParser();
  t.deepEqual(parser.push("data\ndata:  two spaces\nretry: 10\nfoo: bar\n\n"), [{ event: "message", data: "\n two spaces", id: "" }]);
});

test("a byte-order mark opening the stream is dropped; a multi-byte character split across chunks survives", async (t) => {
  const text = bytes("\uFEFFevent: log\ndata: web-2 → ✗ échec\n\n");
  const arrow = text.indexOf(0xe2, 10);
  const events = await collect(body([text.subarray(0, arrow + 1), text.subarray(arrow + 1, arrow + 2), text.subarray(arrow + 2)]));
  t.deepEqual(events, [{ event: "log", data: "web-2 → ✗ échec", id: "" }]);
});

test("an event cut off by the end of the stream is dropped", async (t) => {
  t.deepEqual(await collect(body([bytes("data: whole\n\ndata: half")])), [{ event: "message", data: "whole", id: "" }]);
});

test("a stream silent for longer than idleMs fails with SseIdleError and is cancelled", async (t) => {
  let cancelled = false;
  const silent = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes(": keepalive\n\n"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const iterate = async () => {
    for await (const _ of sseStream(silent, { idleMs: 50 })) t.fail("no event was sent");
  };
  await t.throwsAsync(iterate, { instanceOf: SseIdleError, message: /no data from the stream/ });
  t.true(cancelled);
});
