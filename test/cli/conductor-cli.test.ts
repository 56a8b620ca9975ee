import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { waitFor } from "../helpers/test-bus.ts";
import { upEnv } from "../helpers/up-env.ts";

// The README's walk-through, as a first-time user types it: `deploykit up
// --example`, then deploy, status, rollback, lock, history and logs from the
// CLI, against the real conductor and agent inside up.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");

test("up --example, then deploy, watch, roll back, lock and read the history from the CLI", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "dk-walk-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const dataDir = join(home, "data");
  const env = upEnv(home);
  const up = execa(bin, ["up", "--example", "--port", "0", "--api-port", "0", "--data-dir", dataDir], { env, extendEnv: false, reject: false, all: true, timeout: 120_000 });
  t.teardown(() => up.kill("SIGKILL"));
  let output = "";
  up.all?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  await waitFor(() => output.includes("Stop with Ctrl-C."), 30_000, "deploykit up --example to start");
  t.regex(output, /admin token\s+\S+admin\.token \(new\)/);
  t.regex(output, /deploykit deploy hello v1\.0\.0 --env local/, "up says what to type next");
  const api = /conductor api\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(output)?.[1] as string;
  t.truthy(api, output);
  const cli = (args: string[]) => execa(bin, args, { env: { ...env, DEPLOYKIT_SERVER: api, DEPLOYKIT_DATA_DIR: dataDir }, extendEnv: false, reject: false, timeout: 60_000 });
  const version = () => readFileSync(join(dataDir, "srv", "hello", "current", "VERSION"), "utf8").trim();

  let first = await cli(["deploy", "hello", "v1.0.0", "--env", "local"]);
  for (let attempt = 0; first.exitCode !== 0 && /no live host|no host carries/.test(first.stderr) && attempt < 20; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    first = await cli(["deploy", "hello", "v1.0.0", "--env", "local"]);
  }
  t.is(first.exitCode, 0, `${first.stdout}\n${first.stderr}`);
  t.regex(first.stdout, /laptop/);
  t.regex(first.stdout, /succeeded/);
  t.is(version(), "1.0.0");

  const second = await cli(["deploy", "hello", "v1.1.0", "--env", "local"]);
  t.is(second.exitCode, 0, second.stderr);
  t.is(version(), "1.1.0");

  const status = await cli(["status", "hello"]);
  t.is(status.exitCode, 0, status.stderr);
  t.regex(status.stdout, /local/);
  t.regex(status.stdout, /laptop/);

  const rollback = await cli(["rollback", "hello", "--env", "local"]);
  t.is(rollback.exitCode, 0, `${rollback.stdout}\n${rollback.stderr}`);
  t.is(version(), "1.0.0", "the rollback put v1.0.0 back");

  t.is((await cli(["lock", "hello", "--env", "local", "--reason", "release freeze"])).exitCode, 0);
  const refused = await cli(["deploy", "hello", "v1.1.0", "--env", "local"]);
  t.is(refused.exitCode, 75);
  t.regex(refused.stderr, /locked .*release freeze/);
  t.is((await cli(["unlock", "hello", "--env", "local"])).exitCode, 0);

  const history = await cli(["history", "hello"]);
  t.is(history.exitCode, 0, history.stderr);
  t.is((history.stdout.match(/succeeded/g) ?? []).length, 3, history.stdout);
  t.regex(history.stdout, /rollback/);

  const logs = await cli(["logs", "1"]);
  t.is(logs.exitCode, 0, logs.stderr);
  t.regex(logs.stdout, /hello v1\.0\.0 \([0-9a-f]{40}\) is live on laptop in local/, "the post-deploy script's line is in the log");

  up.kill("SIGINT");
  t.is((await up).exitCode, 0);
});
