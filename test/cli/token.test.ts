import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { readTokens } from "../../daemons/conductor/api-tokens.ts";
import { deploykitBin } from "../helpers/pipeline.ts";
import { tempDir } from "../helpers/temp-dir.ts";

// `deploykit token` as an operator runs it: the real bin/deploykit in a child process.

function deploykit(args: string[], env: Record<string, string> = {}) {
  return execa(deploykitBin, ["token", ...args], { env: { DEPLOYKIT_CONFIG: "", PATH: process.env.PATH ?? "", ...env }, extendEnv: false, reject: false, timeout: 30_000 });
}

test("token create prints the token alone on stdout, once, and stores only its hash", async (t) => {
  const file = join(tempDir(t, "dk-cli-token-"), "conductor", "tokens.yaml");
  const result = await deploykit(["create", "alice", "--role", "deployer", "--file", file]);
  t.is(result.exitCode, 0, result.stderr);
  const token = result.stdout.trim();
  t.regex(token, /^dk_[A-Za-z0-9_-]{43}$/);
  t.regex(result.stderr, /token alice \(deployer\) added to .*tokens\.yaml/);
  t.regex(result.stderr, /only time it is shown: the file stores its sha256 hash, not the token in clear/);
  t.false(readFileSync(file, "utf8").includes(token.slice(3)));
  t.is(statSync(file).mode & 0o777, 0o600);
  t.deepEqual(readTokens(file).verify(token), { name: "alice", role: "deployer" });
});

test("token create without --file writes conductor.tokensFile from the configuration", async (t) => {
  const dir = tempDir(t, "dk-cli-token-");
  const fromConfig = join(dir, "from-config.yaml");
  const config = join(dir, "deploykit.yaml");
  writeFileSync(config, `conductor:\n  tokensFile: ${fromConfig}\n`);
  const byFile = await deploykit(["create", "ci", "--role", "viewer", "--config", config]);
  t.is(byFile.exitCode, 0, byFile.stderr);
  t.deepEqual(readTokens(fromConfig).verify(byFile.stdout.trim()), { name: "ci", role: "viewer" });

  const fromEnv = join(dir, "from-env.yaml");
  const byEnv = await deploykit(["create", "ops", "--role", "admin"], { DEPLOYKIT_CONDUCTOR_TOKENS_FILE: fromEnv });
  t.is(byEnv.exitCode, 0, byEnv.stderr);
  t.deepEqual(readTokens(fromEnv).verify(byEnv.stdout.trim()), { name: "ops", role: "admin" });

  // Next to `deploykit up`'s data: the tokens file up's conductor reads, unless one is configured.
  const data = join(dir, "data");
  const byDataDir = await deploykit(["create", "vera", "--role", "viewer"], { DEPLOYKIT_DATA_DIR: data });
  t.is(byDataDir.exitCode, 0, byDataDir.stderr);
  t.deepEqual(readTokens(join(data, "conductor", "tokens.yaml")).verify(byDataDir.stdout.trim()), { name: "vera", role: "viewer" });
  const configured = await deploykit(["create", "otto", "--role", "viewer"], { DEPLOYKIT_DATA_DIR: data, DEPLOYKIT_CONDUCTOR_TOKENS_FILE: fromEnv });
  t.deepEqual(readTokens(fromEnv).verify(configured.stdout.trim()), { name: "otto", role: "viewer" });
});

test("token create refuses a taken name, a bad name and an unknown role, and writes nothing then", async (t) => {
  const file = join(tempDir(t, "dk-cli-token-"), "tokens.yaml");
  t.is((await deploykit(["create", "alice", "--role", "viewer", "--file", file])).exitCode, 0);
  const before = readFileSync(file, "utf8");

  const taken = await deploykit(["create", "alice", "--role", "admin", "--file", file]);
  t.is(taken.exitCode, 65);
  t.regex(taken.stderr, /a token named alice is in .* already: pick another name/);
  t.is(taken.stdout, "");

  const badName = await deploykit(["create", "$(touch x)", "--role", "admin", "--file", file]);
  t.is(badName.exitCode, 64);
  t.regex(badName.stderr, /token name .* must match/);

  const badRole = await deploykit(["create", "bob", "--role", "root", "--file", file]);
  t.is(badRole.exitCode, 64);
  t.regex(badRole.stderr, /role/i);

  const noRole = await deploykit(["create", "bob", "--file", file]);
  t.is(noRole.exitCode, 64);
  t.regex(noRole.stderr, /role/);

  t.is(readFileSync(file, "utf8"), before);
});

test("token list prints name, role and when each was made, never a token or a hash", async (t) => {
  const file = join(tempDir(t, "dk-cli-token-"), "tokens.yaml");
  const empty = await deploykit(["list", "--file", file]);
  t.is(empty.exitCode, 0, empty.stderr);
  t.is(empty.stdout, "");
  t.regex(empty.stderr, /no tokens in .*tokens\.yaml/);

  const alice = (await deploykit(["create", "alice", "--role", "deployer", "--file", file])).stdout.trim();
  await deploykit(["create", "continuous-integration", "--role", "viewer", "--file", file]);
  const listed = await deploykit(["list", "--file", file]);
  t.is(listed.exitCode, 0, listed.stderr);
  const lines = listed.stdout.trimEnd().split("\n");
  t.is(lines.length, 3);
  t.regex(lines[0] ?? "", /^NAME\s+ROLE\s+CREATED$/);
  t.regex(lines[1] ?? "", /^alice\s+deployer\s+\d{4}-\d\d-\d\dT[\d:.]+Z$/);
  t.regex(lines[2] ?? "", /^continuous-integration\s+viewer\s+\d{4}-/);
  t.false(listed.stdout.includes(alice));
  t.false(listed.stdout.includes("sha256"));
});

test("a broken tokens file is a configuration error that names the file and the entry", async (t) => {
  const file = join(tempDir(t, "dk-cli-token-"), "tokens.yaml");
  writeFileSync(file, "tokens:\n  - name: alice\n    role: root\n");
  for (const args of [["list"], ["create", "bob", "--role", "viewer"]]) {
    const result = await deploykit([...args, "--file", file]);
    t.is(result.exitCode, 78, args.join(" "));
    t.regex(result.stderr, /tokens file .*tokens\.yaml, entry 1 \(alice\): role/);
  }
  t.is(readFileSync(file, "utf8"), "tokens:\n  - name: alice\n    role: root\n");
});
