import { writeFileSync } from "node:fs";
import path from "node:path";
import test from "ava";
import { AptCommandError, aptTools } from "../../../daemons/package-watcher/apt-tools.ts";
import { aptFixture } from "./apt-fixture.ts";

const never = new AbortController().signal;

function toolsFor(fixture: ReturnType<typeof aptFixture>) {
  return aptTools({ aptOptions: fixture.aptOptions, aptConfigFile: fixture.aptConfigFile, dpkgAdmindir: fixture.dpkgAdmindir, timeoutMs: 60_000 });
}

for (const index of ["auto", "builtin"] as const) {
  test(`reads the installed version from dpkg and the candidate from a real file: repository (Packages by ${index === "auto" ? "dpkg-scanpackages" : "the test itself"})`, async (t) => {
    const fixture = aptFixture({ index });
    t.teardown(() => fixture.remove());
    await fixture.publish([
      { name: "shop-web", version: "1.0" },
      { name: "shop-web", version: "1.1" },
      { name: "shop-api", version: "2.0~rc1" },
    ]);
    fixture.setInstalled([
      { name: "shop-web", version: "1.0" },
      { name: "other", version: "3.0" },
    ]);
    const apt = toolsFor(fixture);
    const update = await apt.update(never);
    t.deepEqual(update.messages, [], "apt-get update had nothing to complain about");
    t.deepEqual([...(await apt.installed(["shop-*", "missing"], never))], [["shop-web", "1.0"]]);
    t.deepEqual([...(await apt.candidates(["shop-api", "shop-web", "not-there"], never))].sort(), [
      ["shop-api", "2.0~rc1"],
      ["shop-web", "1.1"],
    ]);
    t.deepEqual((await apt.knownNames("shop", never)).sort(), ["shop-api", "shop-web"]);
  });
}

test("sees a version published after the previous update only after the next apt-get update", async (t) => {
  const fixture = aptFixture();
  t.teardown(() => fixture.remove());
  await fixture.publish([{ name: "shop-web", version: "1.0" }]);
  const apt = toolsFor(fixture);
  await apt.update(never);
  await fixture.publish([{ name: "shop-web", version: "1.1" }]);
  t.is((await apt.candidates(["shop-web"], never)).get("shop-web"), "1.0", "the lists are those of the last update");
  await apt.update(never);
  t.is((await apt.candidates(["shop-web"], never)).get("shop-web"), "1.1");
});

test("a failed apt-get update is an AptCommandError that says why", async (t) => {
  const fixture = aptFixture();
  t.teardown(() => fixture.remove());
  writeFileSync(path.join(fixture.root, "apt", "sources.list"), "this is not a sources line\n");
  const error = await t.throwsAsync(toolsFor(fixture).update(never), { instanceOf: AptCommandError });
  t.regex(error?.message ?? "", /^apt-get update failed \(exit 100\): .*sources\.list/);
});

test("a stopped daemon stops apt-get update", async (t) => {
  const fixture = aptFixture();
  t.teardown(() => fixture.remove());
  const controller = new AbortController();
  controller.abort();
  const error = await t.throwsAsync(toolsFor(fixture).update(controller.signal), { instanceOf: AptCommandError });
  t.regex(error?.message ?? "", /was stopped/);
});

test("refuses an apt option that is not NAME=VALUE", (t) => {
  for (const item of ["--config-file=/etc/x", "Dir::State", "=x", "-c/tmp/x"]) {
    t.throws(() => aptTools({ aptOptions: [item], aptConfigFile: "", dpkgAdmindir: "", timeoutMs: 1000 }), { message: /package-watcher\.aptOptions: ".*" is not an apt configuration item NAME=VALUE/ }, item);
  }
});
