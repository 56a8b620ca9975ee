import test from "ava";
import { visibleWidth } from "../../cli/format-table.ts";
import { LiveFrame, truncateVisible } from "../../cli/live-frame.ts";

/** A terminal's side of the conversation: what was written, and its size. */
function terminal(columns: number, rows: number) {
  const writes: string[] = [];
  return { writes, columns, rows, write: (text: string) => writes.push(text) };
}

test("each redraw goes back up over the previous frame's lines and clears what it left below", (t) => {
  const out = terminal(20, 10);
  const frame = new LiveFrame(out);
  t.is(frame.maxLines, 9);
  frame.draw(["header", "  ✓ web-1", "  … web-2"]);
  frame.draw(["header", "  ✓ web-1"]);
  frame.close();
  t.deepEqual(out.writes, [
    "\x1b[?25lheader\x1b[K\n  ✓ web-1\x1b[K\n  … web-2\x1b[K\n\x1b[J",
    "\r\x1b[3Aheader\x1b[K\n  ✓ web-1\x1b[K\n\x1b[J",
    "\r\x1b[2A\x1b[J\x1b[?25h",
  ]);
});

test("lines wider than the terminal are cut, so no line wraps and throws off the next redraw", (t) => {
  const out = terminal(12, 10);
  new LiveFrame(out).draw(["web-2  at restart: a long reason"]);
  t.is(out.writes[0], "\x1b[?25lweb-2  at r…\x1b[K\n\x1b[J");
});

test("a line cut to the terminal's width ends in … and keeps its colour sequences closed", (t) => {
  t.is(truncateVisible("web-2  at restart: a long reason", 12), "web-2  at r…");
  t.is(truncateVisible("short", 12), "short");
  const cut = truncateVisible("\x1b[31m✗ failed\x1b[0m  web-2 a reason", 10);
  t.is(visibleWidth(cut), 10);
  t.true(cut.endsWith("…\x1b[0m"));
});
