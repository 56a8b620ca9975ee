import test from "ava";
import { formatTable, visibleWidth } from "../../cli/format-table.ts";

test("columns line up, empty cells show as -, and no line ends in spaces", (t) => {
  const lines = formatTable(
    ["ID", "DEPLOY", "STATE", "DURATION"],
    [
      ["9", "shop/production #42", "failed", "1:02"],
      ["10", "blog/staging #7", "", "12.3s"],
      ["117", "shop → prod #1", "succeeded", null],
    ],
    { right: [0, 3] },
  );
  t.deepEqual(lines, [
    " ID  DEPLOY               STATE      DURATION",
    "  9  shop/production #42  failed         1:02",
    " 10  blog/staging #7      -             12.3s",
    "117  shop → prod #1       succeeded         -",
  ]);
});

test("colour sequences take no width, so coloured cells align with plain ones", (t) => {
  t.is(visibleWidth("\x1b[31m✗ failed\x1b[0m"), 8);
  const lines = formatTable(["STATE", "HOST"], [["\x1b[31mfailed\x1b[0m", "web-2"], ["succeeded", "web-1"]]);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping the colour to see the layout.
  t.deepEqual(lines.map((line) => line.replace(/\x1b\[[0-9;]*m/g, "")), ["STATE      HOST", "failed     web-2", "succeeded  web-1"]);
});
