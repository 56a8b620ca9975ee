import { readFileSync } from "node:fs";
import test from "ava";
import { daemons } from "../daemons/index.ts";
import { configTable } from "../shared/config/config-table.ts";
import { configSections } from "../shared/run-daemon.ts";

const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

test("the README's configuration table matches the schema", (t) => {
  const match = /<!-- config-table:start -->\n([\s\S]*)<!-- config-table:end -->/.exec(readme);
  t.truthy(match, "README.md has the config-table markers");
  t.is(match?.[1], configTable(configSections(daemons)), "regenerate it with ./bin/deploykit config table");
});
