import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { createToken } from "../../../daemons/conductor/api-tokens.ts";
import { reloadingTokens } from "../../../daemons/conductor/token-reloader.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// A token made (or removed) while the conductor runs counts within a second:
// no restart, and a revoked token stops working.

test("a token created after start is accepted once the file is looked at again; a removed one is refused", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "tokens.yaml");
  const first = createToken(file, { name: "ada", role: "admin" });
  let clock = 0;
  const { log } = captureLog();
  const tokens = reloadingTokens(file, log, 1000, () => clock);
  t.is(tokens().verify(first)?.name, "ada");

  const second = createToken(file, { name: "dora", role: "deployer" });
  clock = 500;
  t.is(tokens().verify(second), undefined, "not looked at again within the interval");
  clock = 1500;
  t.deepEqual(tokens().verify(second), { name: "dora", role: "deployer" });

  // Revoking: the entry is taken out of the file.
  const text = readFileSync(file, "utf8");
  writeFileSync(file, text.replace(/- name: ada[\s\S]*?(?=- name:|$)/, ""));
  clock = 3000;
  t.is(tokens().verify(first), undefined);
  t.is(tokens().verify(second)?.name, "dora");
});

test("a tokens file that turns unreadable keeps the tokens read before, and says so", (t) => {
  const file = join(tempDir(t, "dk-tokens-"), "tokens.yaml");
  const token = createToken(file, { name: "ada", role: "admin" });
  let clock = 0;
  const { log, lines } = captureLog();
  const tokens = reloadingTokens(file, log, 1000, () => clock);
  writeFileSync(file, "tokens: [ {{ not yaml");
  clock = 2000;
  t.is(tokens().verify(token)?.name, "ada");
  t.true(lines.some((line) => String(line.msg).includes("cannot be read")));
});
