import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import type { BodyOf, Envelope } from "../../shared/messages/index.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../helpers/test-bus.ts";

// `deploykit packages notify` as hooks/reprepro runs it: the real bin/deploykit
// in a child process, against the embedded broker.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const broker = await startTestBroker();
  const prefix = uniquePrefix();
  const bus = testBus(broker.url, prefix);
  t.teardown(async () => {
    await bus.close({ graceMs: 0 });
    await broker.close();
  });
  await bus.connected(10_000);
  const seen: Envelope<BodyOf<"packages.updates">>[] = [];
  await bus.subscribe("packages.updates", (message) => void seen.push(message));
  const env = { PATH: process.env.PATH ?? "", DEPLOYKIT_CONFIG: "", DEPLOYKIT_BUS_URL: broker.url, DEPLOYKIT_BUS_PREFIX: prefix, DEPLOYKIT_LOG_FORMAT: "json" };
  const deploykit = (args: string[]) => execa(bin, ["packages", "notify", ...args], { env, extendEnv: false, reject: false, timeout: 30_000 });
  return { seen, deploykit };
}

test("packages notify publishes packages.updates and prints the envelope id; versions stay strings", async (t) => {
  const { seen, deploykit } = await setUp(t);
  const result = await deploykit(["--package=shop-web", "--package-version=1.10", "--distribution=bookworm", "--component=main", "--architecture=amd64"]);
  t.is(result.exitCode, 0, result.stderr);
  await waitFor(() => seen.length === 1, 10_000, "the message");
  const [message] = seen as [Envelope<BodyOf<"packages.updates">>];
  t.is(result.stdout.trim(), message.id);
  t.is(message.type, "packages.updates.v1");
  t.deepEqual(message.body, { package: "shop-web", version: "1.10", distribution: "bookworm", component: "main", architecture: "amd64" });
  t.is(message.source.component, "packages-notify");
});

test("packages notify refuses what is not a package name, a version or an archive name, and publishes nothing", async (t) => {
  const { seen, deploykit } = await setUp(t);
  const marker = join(mkdtempSync(join(tmpdir(), "dk-notify-")), "pwned");
  const good = ["--package=shop-web", "--package-version=1.1"];
  const cases: [string[], RegExp][] = [
    [[`--package=$(touch ${marker})`, "--package-version=1.1", "--distribution=bookworm"], /--package "\$\(touch .*\)" is not a Debian package name/],
    [["--package=--config-file", "--package-version=1.1", "--distribution=bookworm"], /--package "--config-file" is not a Debian package name/],
    [["--package=shop-web", "--package-version=-1.1", "--distribution=bookworm"], /--package-version "-1.1" is not a Debian version/],
    [["--package=shop-web", "--package-version=1.1;id", "--distribution=bookworm"], /is not a Debian version/],
    [[...good, "--distribution=../etc"], /--distribution "..\/etc" is not a distribution name/],
    [[...good, "--distribution=bookworm", `--component=main$(touch ${marker})`], /--component .* is not a component name/],
    [[...good, "--distribution=bookworm", "--correlation-id=not-a-uuid"], /--correlation-id "not-a-uuid" is not a uuid/],
  ];
  for (const [args, message] of cases) {
    const result = await deploykit(args);
    t.is(result.exitCode, 65, `${args.join(" ")}: ${result.stderr}`);
    t.regex(result.stderr, message);
    t.false(result.stderr.includes("    at "), "no stack trace");
  }
  const twice = await deploykit([...good, "--distribution=bookworm", "--package=shop-api"]);
  t.is(twice.exitCode, 64);
  t.regex(twice.stderr, /--package was given more than once/);
  const missing = await deploykit(["--package=shop-web"]);
  t.is(missing.exitCode, 64);
  t.regex(missing.stderr, /Missing required arguments?: package-version, distribution/);
  // Only this one arrives: nothing before it was published.
  t.is((await deploykit([...good, "--distribution=bookworm", "--component=contrib"])).exitCode, 0);
  await waitFor(() => seen.length === 1, 10_000, "the good message");
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.deepEqual(
    seen.map((m) => m.body.component),
    ["contrib"],
  );
  t.false(existsSync(marker));
});
