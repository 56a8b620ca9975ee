import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { execa, execaSync } from "execa";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { packageWatcher } from "../../../daemons/package-watcher/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { aptFixture } from "../../daemons/package-watcher/apt-fixture.ts";

// The reprepro notifier called as reprepro calls it, with the real
// bin/deploykit behind it and the embedded broker; and, where reprepro is
// installed, reprepro itself calling it, with a package-watcher listening.

const root = new URL("../../../../", import.meta.url).pathname;
const hook = join(root, "hooks", "reprepro", "deploykit-notify");
const bin = join(root, "bin", "deploykit");

async function setUp(t: { teardown(fn: () => unknown): void }) {
  const broker = await startTestBroker();
  const prefix = uniquePrefix();
  const bus = testBus(broker.url, prefix);
  const fixture = aptFixture();
  t.teardown(async () => {
    await bus.close({ graceMs: 0 });
    await broker.close();
    fixture.remove();
  });
  await bus.connected(10_000);
  const updates: Envelope<BodyOf<"packages.updates">>[] = [];
  await bus.subscribe("packages.updates", (message) => void updates.push(message));
  const env = {
    PATH: process.env.PATH ?? "",
    DEPLOYKIT_BIN: bin,
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_BUS_URL: broker.url,
    DEPLOYKIT_BUS_PREFIX: prefix,
    DEPLOYKIT_LOG_FORMAT: "json",
  };
  return { broker, prefix, bus, fixture, updates, env };
}

test("reprepro's add and replace become packages.updates; removals and source packages do not", async (t) => {
  const { updates, env } = await setUp(t);
  const run = (args: string[]) => execa(hook, args, { env, extendEnv: false, reject: false, timeout: 30_000 });
  const pool = "pool/main/s/shop-web/shop-web_1.1_all.deb";
  for (const args of [
    ["remove", "bookworm", "deb", "main", "amd64", "shop-web", "1.0", "--", pool],
    ["add", "bookworm", "dsc", "main", "source", "shop-web", "1.1", "--", "pool/main/s/shop-web/shop-web_1.1.dsc"],
    ["add", "bookworm", "udeb", "main", "amd64", "shop-web-udeb", "1.1", "--", pool],
  ]) {
    const result = await run(args);
    t.is(result.exitCode, 0, result.stderr);
    t.is(result.stdout, "", "nothing was published");
  }
  const added = await run(["add", "bookworm", "deb", "main", "amd64", "shop-web", "1.1", "--", pool]);
  t.is(added.exitCode, 0, added.stderr);
  const replaced = await run(["replace", "bookworm-security", "deb", "non-free/debian-installer", "arm64", "shop-api", "2:1.2-1+deb12u1", "2:1.1-3", "--", pool, pool]);
  t.is(replaced.exitCode, 0, replaced.stderr);
  await waitFor(() => updates.length === 2, 10_000, "two messages");
  t.deepEqual(
    updates.map((m) => m.body),
    [
      { package: "shop-web", version: "1.1", distribution: "bookworm", component: "main", architecture: "amd64" },
      { package: "shop-api", version: "2:1.2-1+deb12u1", distribution: "bookworm-security", component: "non-free/debian-installer", architecture: "arm64" },
    ],
  );
  t.is(updates[0]?.id, added.stdout.trim());

  const usage = await run(["add", "bookworm"]);
  t.is(usage.exitCode, 64);
  t.regex(usage.stderr, /expected ACTION CODENAME TYPE COMPONENT ARCHITECTURE NAME VERSION from reprepro, got 2 arguments/);
});

test("a hostile package name or version given to the hook stays inert and publishes nothing", async (t) => {
  const { updates, env, fixture } = await setUp(t);
  const marker = join(fixture.root, "pwned");
  const run = (args: string[]) => execa(hook, args, { env, extendEnv: false, reject: false, timeout: 30_000 });
  for (const [name, version] of [
    [`$(touch ${marker})`, "1.1"],
    [`\`touch ${marker}\``, "1.1"],
    ["--config-file", "1.1"],
    ["shop-web", `1.1;touch ${marker}`],
    ["shop-web", "--bus=stomp://elsewhere"],
  ] as const) {
    const result = await run(["add", "bookworm", "deb", "main", "amd64", name, version, "--", "pool/x.deb"]);
    t.is(result.exitCode, 65, `${name} ${version}: ${result.stderr}`);
    t.regex(result.stderr, /is not a Debian (package name|version)/);
  }
  t.is((await run(["add", "bookworm", "deb", "main", "amd64", "shop-web", "1.1", "--", "pool/x.deb"])).exitCode, 0);
  await waitFor(() => updates.length === 1, 10_000, "the good message");
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(updates.length, 1);
  t.false(existsSync(marker));
});

test("with the broker down the hook fails in DEPLOYKIT_NOTIFY_TIMEOUT, with the reason, so reprepro logs it", async (t) => {
  const { env } = await setUp(t);
  const result = await execa(hook, ["add", "bookworm", "deb", "main", "amd64", "shop-web", "1.1", "--", "pool/x.deb"], {
    env: { ...env, DEPLOYKIT_BUS_URL: "stomp://127.0.0.1:1", DEPLOYKIT_NOTIFY_TIMEOUT: "500" },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
  t.is(result.exitCode, 69);
  t.regex(result.stderr, /could not publish: .*127\.0\.0\.1:1 after 500 ms/);
});

const reprepro = execaSync("reprepro", ["--version"], { reject: false }).exitCode === 0;

(reprepro ? test : test.skip)("reprepro includedeb → the hook → packages.updates → package-watcher → packages.available (needs reprepro)", async (t) => {
  const { broker, prefix, bus, fixture, updates, env } = await setUp(t);
  const base = join(fixture.root, "reprepro");
  mkdirSync(join(base, "conf"), { recursive: true });
  writeFileSync(
    join(base, "conf", "distributions"),
    ["Codename: bookworm", "Architectures: amd64", "Components: main", "Log: deploykit.log", ` --type=deb ${hook}`, ""].join("\n"),
  );
  const include = async (name: string, version: string) => {
    const deb = await fixture.buildDeb(name, version);
    const result = await execa("reprepro", ["--basedir", base, "includedeb", "bookworm", deb], { env: { ...env, HOME: fixture.root }, extendEnv: false, reject: false, timeout: 30_000 });
    t.is(result.exitCode, 0, result.stderr);
  };
  await include("shop-web", "1.0");
  await waitFor(() => updates.length === 1, 15_000, "the message from reprepro's notifier");
  t.like(updates[0]?.body, { package: "shop-web", version: "1.0", distribution: "bookworm", component: "main", architecture: "amd64" });

  fixture.setSources([`deb [trusted=yes] file:${base} bookworm main`]);
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  const available: Envelope<BodyOf<"packages.available">>[] = [];
  await bus.subscribe("packages.available", (message) => void available.push(message));
  const daemonBus = testBus(broker.url, prefix);
  const { log, lines } = captureLog();
  const stop = await packageWatcher.start({
    config: {
      packages: ["shop-*"],
      coalesce: 200,
      updateInterval: 0,
      periodic: 0,
      aptOptions: fixture.aptOptions,
      aptConfigFile: fixture.aptConfigFile,
      dpkgAdmindir: fixture.dpkgAdmindir,
      includeNotInstalled: false,
      stateFile: "",
      commandTimeout: 60_000,
    },
    bus: daemonBus,
    log,
    host: "web-1",
    signal: new AbortController().signal,
    announce: () => {},
  });
  t.teardown(async () => {
    await stop();
    await daemonBus.close({ graceMs: 0 });
  });
  await daemonBus.connected(10_000);

  await include("shop-web", "1.1");
  await waitFor(() => available.length === 1, 20_000, `packages.available (log: ${JSON.stringify(lines.slice(-3))})`);
  t.deepEqual(available[0]?.body, { host: "web-1", package: "shop-web", installed: "1.0", candidate: "1.1" });
  t.is(available[0]?.correlationId, updates[1]?.correlationId, "one chain from the upload to the announcement");
});
