import { existsSync, readFileSync, renameSync } from "node:fs";
import path from "node:path";
import test from "ava";
import type { Logger } from "pino";
import type { Bus } from "../../../shared/bus/bus.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { packageWatcher } from "../../../daemons/package-watcher/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { type AptFixture, aptFixture } from "./apt-fixture.ts";

type Config = Parameters<typeof packageWatcher.start>[0]["config"];
type Available = Envelope<BodyOf<"packages.available">>;

function configFor(fixture: AptFixture, overrides: Partial<Config> = {}): Config {
  return {
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
    ...overrides,
  };
}

function startWatcher(bus: Bus, config: Config, log: Logger) {
  return packageWatcher.start({ config, bus, log, host: "web-1", signal: new AbortController().signal, announce: () => {} });
}

const update = (name: string, version = "1.1") => ({ package: name, version, distribution: "bookworm", component: "main" });

/** A memory bus for the daemon and one for the test, the fixture, and what arrives on packages.available. */
async function setUp(t: { teardown(fn: () => unknown): void }, fixture = aptFixture()) {
  const url = `memory://${uniquePrefix()}`;
  const daemonBus = testBus(url, "dk");
  const bus = testBus(url, "dk");
  const available: Available[] = [];
  await bus.subscribe("packages.available", (message) => void available.push(message));
  t.teardown(async () => {
    await Promise.all([daemonBus.close(), bus.close()]);
    fixture.remove();
  });
  return { fixture, daemonBus, bus, available };
}

const count = (lines: Record<string, unknown>[], msg: string) => lines.filter((line) => line.msg === msg).length;

test("announces a newer candidate from a real repository after packages.updates over STOMP, with the message's correlationId, once per version", async (t) => {
  const broker = await startTestBroker();
  const prefix = uniquePrefix();
  const daemonBus = testBus(broker.url, prefix);
  const bus = testBus(broker.url, prefix);
  const fixture = aptFixture();
  t.teardown(async () => {
    await Promise.all([daemonBus.close({ graceMs: 0 }), bus.close({ graceMs: 0 })]);
    await broker.close();
    fixture.remove();
  });
  await fixture.publish([{ name: "shop-web", version: "1.0" }]);
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  const available: Available[] = [];
  await bus.connected(10_000);
  await bus.subscribe("packages.available", (message) => void available.push(message));
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture), log);
  t.teardown(stop);

  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  const trigger = await bus.publish("packages.updates", update("shop-web"));
  await waitFor(() => available.length === 1, 20_000, "packages.available");
  const [message] = available as [Available];
  t.is(message.type, "packages.available.v1");
  t.deepEqual(message.body, { host: "web-1", package: "shop-web", installed: "1.0", candidate: "1.1" });
  t.is(message.correlationId, trigger.correlationId);
  t.is(message.source.host, "test-host");

  // The same version again: checked, not announced again. A later version is.
  await bus.publish("packages.updates", update("shop-web"));
  await waitFor(() => count(lines, "package check finished") === 2, 20_000, "the second check");
  await fixture.publish([{ name: "shop-web", version: "1.2" }]);
  await bus.publish("packages.updates", update("shop-web", "1.2"));
  await waitFor(() => available.length >= 2, 20_000, "the announcement of 1.2");
  t.deepEqual(
    available.map((m) => m.body.candidate),
    ["1.1", "1.2"],
  );
  t.is(available[1]?.body.installed, "1.0");
  t.is(count(lines, "apt-get update finished"), 3);
});

test("announces nothing for a package whose candidate is the installed version, nor for one not installed", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  await fixture.publish([
    { name: "shop-aaa", version: "1.1" },
    { name: "shop-api", version: "1.0" },
    { name: "shop-api", version: "1.1" },
    { name: "shop-new", version: "2.0" },
    { name: "shop-old", version: "0.9" },
  ]);
  fixture.setInstalled([
    { name: "shop-aaa", version: "1.1" },
    { name: "shop-api", version: "1.0" },
    { name: "shop-old", version: "1.0" },
  ]);
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture), log);
  t.teardown(stop);
  await bus.publish("packages.updates", update("shop-aaa"));
  await waitFor(() => count(lines, "package check finished") === 1, 20_000, "the check");
  // Announcements go out in name order, so one for shop-aaa would have come first.
  await waitFor(() => available.length >= 1, 5_000, "the announcement of shop-api");
  t.deepEqual(
    available.map((m) => m.body),
    [{ host: "web-1", package: "shop-api", installed: "1.0", candidate: "1.1" }],
  );
  const finished = lines.find((line) => line.msg === "package check finished");
  t.like(finished, { checked: 3, announced: 1, updated: true });
});

test("a burst of ten update messages costs one apt-get update; the next waits for the rate limit", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture, { coalesce: 500, updateInterval: 4_000 }), log);
  t.teardown(stop);
  const triggers = [];
  for (let i = 0; i < 10; i++) triggers.push(await bus.publish("packages.updates", update(i % 2 ? "shop-web" : "shop-api")));
  await waitFor(() => count(lines, "package check finished") === 1, 20_000, "the check");
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.is(count(lines, "apt-get update finished"), 1, "one apt-get update for the burst");
  t.is(available.length, 1);
  t.is(available[0]?.correlationId, triggers[1]?.correlationId, "from the first message that named shop-web");

  await bus.publish("packages.updates", update("shop-web"));
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.is(count(lines, "apt-get update finished"), 1, "held back by updateInterval");
  await waitFor(() => count(lines, "apt-get update finished") === 2, 20_000, "the second update");
  // When each run started, from pino's time and the run's duration.
  const starts = lines.filter((line) => line.msg === "apt-get update finished").map((line) => Number(line.time) - Number(line.durationMs));
  t.deepEqual(
    lines.filter((line) => line.msg === "apt-get update finished").map((line) => line.updateRuns),
    [1, 2],
  );
  t.true((starts[1] as number) - (starts[0] as number) >= 3_900, `runs started ${(starts[1] as number) - (starts[0] as number)} ms apart`);
});

test("a package name that is not a Debian name is refused and nothing runs; one not watched runs nothing either", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  const marker = path.join(fixture.root, "pwned");
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture), log);
  t.teardown(stop);
  const hostile = [`$(touch ${marker})`, "--config-file", `shop-$(touch ${marker})`, "shop-web --config-file=/tmp/x", "-oDir::Etc::sourcelist=/tmp/x", "Shop-Web", "shop-web\n"];
  for (const name of hostile) await bus.publish("packages.updates", update(name));
  await bus.publish("packages.updates", update("nginx"));
  await waitFor(() => count(lines, "refused packages.updates: the package is not a Debian package name") === hostile.length, 5_000, "the refusals");
  await waitFor(() => count(lines, "packages.updates for a package not watched here") === 1, 5_000, "nginx ignored");
  await new Promise((resolve) => setTimeout(resolve, 800));
  t.is(count(lines, "apt-get update finished") + count(lines, "apt-get update failed"), 0, "no apt-get update");
  t.is(count(lines, "package check finished"), 0, "no check");
  t.false(existsSync(marker));
  t.deepEqual(
    lines.filter((line) => String(line.msg).startsWith("refused")).map((line) => line.package),
    hostile,
  );

  // The same daemon does act on a good name.
  await bus.publish("packages.updates", update("shop-web"));
  await waitFor(() => available.length === 1, 20_000, "the announcement");
  t.is(count(lines, "apt-get update finished"), 1);
});

test("includeNotInstalled announces watched packages this host lacks, found through globs and names", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  await fixture.publish([
    { name: "shop-new", version: "2.0" },
    { name: "billing", version: "3.0" },
    { name: "other", version: "1.0" },
  ]);
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture, { packages: ["shop-*", "billing", "absent"], includeNotInstalled: true }), log);
  t.teardown(stop);
  await bus.publish("packages.updates", update("billing", "3.0"));
  await waitFor(() => count(lines, "package check finished") === 1, 20_000, "the check");
  await waitFor(() => available.length >= 2, 5_000, "two announcements");
  t.deepEqual(
    available.map((m) => [m.body.package, m.body.installed, m.body.candidate]),
    [
      ["billing", null, "3.0"],
      ["shop-new", null, "2.0"],
    ],
  );
});

test("checks at start to catch up, remembers what it announced across a restart in the state file", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  const stateFile = path.join(fixture.root, "state", "announced.json");
  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  const first = captureLog();
  const config = configFor(fixture, { periodic: 60_000, stateFile });
  const stop = await startWatcher(daemonBus, config, first.log);
  await waitFor(() => available.length === 1, 20_000, "the catch-up announcement");
  t.is(available[0]?.body.candidate, "1.1");
  t.is(available[0]?.correlationId, available[0]?.id, "no message asked: a chain of its own");
  await stop();
  t.deepEqual(JSON.parse(readFileSync(stateFile, "utf8")), { announced: { "shop-web": "1.1" } });

  const second = captureLog();
  const stopAgain = await startWatcher(daemonBus, config, second.log);
  t.teardown(stopAgain);
  await waitFor(() => count(second.lines, "package check finished") === 1, 20_000, "the check at start");
  t.like(
    second.lines.find((line) => line.msg === "package check finished"),
    { announced: 0, reasons: ["periodic"] },
  );
  await fixture.publish([{ name: "shop-web", version: "1.2" }]);
  await bus.publish("packages.updates", update("shop-web", "1.2"));
  await waitFor(() => available.length === 2, 20_000, "1.2");
  t.is(available[1]?.body.candidate, "1.2");
  fixture.setInstalled([{ name: "shop-web", version: "1.2" }]);
  await bus.publish("packages.updates", update("shop-web", "1.2"));
  await waitFor(() => count(second.lines, "package check finished") === 3, 20_000, "the check after the upgrade");
  await stopAgain();
  t.deepEqual(JSON.parse(readFileSync(stateFile, "utf8")), { announced: {} }, "an installed candidate is forgotten");
});

test("a failing apt-get update is logged and the check goes on with the lists of the last update that worked", async (t) => {
  const { fixture, daemonBus, bus, available } = await setUp(t);
  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  fixture.setInstalled([{ name: "shop-web", version: "1.1" }]);
  const { log, lines } = captureLog();
  const stop = await startWatcher(daemonBus, configFor(fixture), log);
  t.teardown(stop);
  await bus.publish("packages.updates", update("shop-web"));
  await waitFor(() => count(lines, "package check finished") === 1, 20_000, "the first check");
  t.is(available.length, 0);

  // The repository goes away; the host meanwhile runs an older version.
  renameSync(path.join(fixture.root, "repo"), path.join(fixture.root, "repo.away"));
  fixture.setInstalled([{ name: "shop-web", version: "1.0" }]);
  await bus.publish("packages.updates", update("shop-web"));
  await waitFor(() => count(lines, "package check finished") === 2, 20_000, "the second check");
  t.is(count(lines, "apt-get update failed"), 1);
  const warning = lines.find((line) => String(line.msg).startsWith("apt-get update failed: comparing"));
  t.regex(String((warning?.err as { message?: string })?.message), /apt-get update failed \(exit 100\)/);
  t.like(lines.filter((line) => line.msg === "package check finished")[1], { updated: false, announced: 1 });
  await waitFor(() => available.length === 1, 5_000, "the announcement from the old lists");
  t.like(available[0]?.body, { installed: "1.0", candidate: "1.1" });
});

test("refuses to start on a watched entry or an apt option it cannot use; with nothing to watch it stays idle", async (t) => {
  const { fixture, daemonBus, bus } = await setUp(t);
  const { log, lines } = captureLog();
  await t.throwsAsync(startWatcher(daemonBus, configFor(fixture, { packages: ["shop-[ab]"] }), log), {
    message: 'package-watcher.packages: "shop-[ab]" is not a Debian package name or glob (lowercase letters, digits, + . - and the wildcards * ?)',
  });
  await t.throwsAsync(startWatcher(daemonBus, configFor(fixture, { aptOptions: ["--config-file=/tmp/x"] }), log), { message: /package-watcher\.aptOptions/ });
  const stop = await startWatcher(daemonBus, configFor(fixture, { packages: [], periodic: 1_000 }), log);
  t.teardown(stop);
  await bus.publish("packages.updates", update("shop-web"));
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(count(lines, "no packages to watch (package-watcher.packages is empty): idle"), 1);
  t.is(count(lines, "package check finished"), 0);
});
