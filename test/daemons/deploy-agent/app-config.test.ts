import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { readAppsDir } from "../../../daemons/deploy-agent/app-config.ts";
import { deployPlan, parseRepoFile } from "../../../daemons/deploy-agent/deploy-plan.ts";
import { NonceStore } from "../../../daemons/deploy-agent/nonce-store.ts";

function dir(t: import("ava").ExecutionContext): string {
  const path = mkdtempSync(join(tmpdir(), "dk-apps-"));
  t.teardown(() => rmSync(path, { recursive: true, force: true }));
  return path;
}

test("apps.d: one file per app, defaults filled, durations parsed; a missing directory means no apps", (t) => {
  const apps = dir(t);
  writeFileSync(join(apps, "shop.yaml"), "repo: acme/shop\nuser: www-data\ntimeout: 2m\nhealthCheck:\n  http: http://127.0.0.1:8080/health\n");
  writeFileSync(join(apps, "site.yml"), "strategy: checkout\nurl: https://git.example.com/site.git\nsite: /var/www/site\ncontrolDir: /var/www/control\nuser: www-data\n");
  writeFileSync(join(apps, ".hidden.yaml"), "not: read");
  const read = readAppsDir(apps);
  t.deepEqual([...read.keys()], ["shop", "site"]);
  const shop = read.get("shop");
  t.is(shop?.strategy, "release");
  t.is(shop?.root, "/srv/deploykit");
  t.is(shop?.keep, 5);
  t.is(shop?.timeout, 120_000);
  t.is(shop?.rollbackOnFailure, true);
  t.is(shop?.healthCheck?.retries, 3);
  t.is(read.get("site")?.strategy, "checkout");
  t.is(readAppsDir(join(apps, "missing")).size, 0);
});

test("apps.d refuses what an operator must fix, naming the file and the key", (t) => {
  const cases: [string, string, RegExp][] = [
    ["Shop.yaml", "repo: a/b\n", /file name must be the app name/],
    ["shop.yaml", "app: blog\nrepo: a/b\n", /app is "blog" but the file says shop/],
    ["shop.yaml", "strategy: release\n", /needs a repository/],
    ["shop.yaml", "repo: a/b\nroot: relative\n", /root: must be an absolute path/],
    ["shop.yaml", "repo: a/b\nscripts:\n  pre-link: 'echo $(id)'\n  post-link: x\n", /post-link/],
    ["shop.yaml", "repo: a/b\nurl: '--upload-pack=evil'\n", /url/],
    ["shop.yaml", "repo: a/b\nsite: /var/www\n", /site and controlDir belong to the checkout strategy/],
    ["shop.yaml", "repo: a/b\nhealthCheck:\n  http: ftp://x\n", /healthCheck/],
    ["shop.yaml", "repo: a/b\nenvironment:\n  'BAD-NAME': x\n", /environment variable name/],
  ];
  for (const [file, text, message] of cases) {
    const apps = dir(t);
    writeFileSync(join(apps, file), text);
    const error = t.throws(() => readAppsDir(apps));
    t.regex(error?.message ?? "", message, `${file}: ${text}`);
    t.true(error?.message.includes(join(apps, file)), "names the file");
  }
});

test("deploykit.yml: the host's keys win one by one; the repository cannot set host-only keys or pre-fetch", (t) => {
  const apps = dir(t);
  writeFileSync(join(apps, "shop.yaml"), "repo: a/b\nrestart: [/bin/systemctl, restart, shop]\nscripts:\n  post-deploy: /usr/local/bin/notify\n");
  const app = readAppsDir(apps).get("shop");
  if (!app) throw new Error("no app");
  const repo = parseRepoFile("scripts:\n  pre-link: bin/build\n  post-deploy: bin/own\nrestart: bin/restart\nhealthCheck:\n  command: [bin/check, --quick]\n", "deploykit.yml at abc");
  const plan = deployPlan(app, repo);
  t.deepEqual(plan.hooks["pre-link"], { argv: ["bin/build"], from: "repository" });
  t.deepEqual(plan.hooks["post-deploy"], { argv: ["/usr/local/bin/notify"], from: "host" });
  t.deepEqual(plan.restart, { argv: ["/bin/systemctl", "restart", "shop"], from: "host" });
  t.deepEqual(plan.healthCheck?.check.command, ["bin/check", "--quick"]);
  t.deepEqual(plan.overridden.sort(), ["restart", "scripts.post-deploy"]);
  t.throws(() => parseRepoFile("user: root\n", "deploykit.yml at abc"), { message: /deploykit\.yml at abc: .*user/ });
  t.throws(() => parseRepoFile("scripts:\n  pre-fetch: x\n", "deploykit.yml at abc"), { message: /pre-fetch/ });
  t.throws(() => parseRepoFile("restart: [\n", "deploykit.yml at abc"), { message: /not valid YAML/ });
  t.deepEqual(parseRepoFile("", "empty"), {});
});

test("the nonce store remembers accepted nonces across restarts until they expire, and compacts its file", (t) => {
  const file = join(dir(t), "state", "nonces");
  let now = 1_000_000;
  const store = new NonceStore(file, () => now);
  store.remember("aaaa", now + 60_000);
  store.remember("bbbb", now + 1_000);
  t.true(store.seen("aaaa"));
  now += 2_000;
  t.false(store.seen("bbbb"), "expired nonces no longer count");
  const reopened = new NonceStore(file, () => now);
  t.true(reopened.seen("aaaa"), "a restarted agent still knows the nonce");
  t.is(reopened.size, 1, "expired entries are dropped when the file is read back");
  writeFileSync(file, "cccc 99999999\ntorn-line-without-expiry\n", { flag: "a" });
  const torn = new NonceStore(file, () => now);
  t.true(torn.seen("cccc"));
  t.false(torn.seen("torn-line-without-expiry"));
});
