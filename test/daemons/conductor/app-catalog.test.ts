import { writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { AppCatalogError, defaultRepoName, readAppCatalog } from "../../../daemons/conductor/app-catalog.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

const shop = `
url: https://git.example.com/Acme/Shop.git
description: The shop
environments:
  - name: staging
    target:
      classes: [shop]
      facts: { role: web, os.release.major: 12 }
    rollout:
      canary: 2
      batch: 25%
      pause: 30s
      failureBudget: 10%
      hostTimeout: 10m
    gate:
      jobs: [shop-tests, shop-lint]
  - name: production
    target:
      identities: [web-1, web-2]
    rollout:
      batch: 10
      failureBudget: 1
    lockRequired: false
`;

test("apps.d: one file per app, in name order; defaults filled; durations and percents parsed", (t) => {
  const apps = tempDir(t, "dk-catalog-");
  writeFileSync(join(apps, "shop.yaml"), shop);
  writeFileSync(join(apps, "blog.yml"), "url: git@git.example.com:acme/blog.git\nrepo: acme/blog-site\nenvironments:\n  - name: production\n");
  writeFileSync(join(apps, ".hidden.yaml"), "not: read");
  writeFileSync(join(apps, "notes.txt"), "not: read");
  const catalog = readAppCatalog(apps);
  t.deepEqual([...catalog.keys()], ["blog", "shop"]);

  t.deepEqual(catalog.get("shop"), {
    app: "shop",
    file: join(apps, "shop.yaml"),
    url: "https://git.example.com/Acme/Shop.git",
    repo: "acme/shop",
    description: "The shop",
    environments: [
      {
        name: "staging",
        target: { classes: ["shop"], facts: { role: "web", "os.release.major": "12" } },
        rollout: { canary: 2, batch: { percent: 25 }, pause: 30_000, failureBudget: { percent: 10 }, hostTimeout: 600_000 },
        gate: { jobs: ["shop-tests", "shop-lint"] },
        lockRequired: true,
      },
      {
        name: "production",
        target: { identities: ["web-1", "web-2"] },
        rollout: { canary: 1, batch: { count: 10 }, pause: 0, failureBudget: { count: 1 } },
        lockRequired: false,
      },
    ],
  });

  const blog = catalog.get("blog");
  t.is(blog?.repo, "acme/blog-site", "an explicit repo wins over the URL");
  t.deepEqual(blog?.environments, [
    { name: "production", target: {}, rollout: { canary: 1, batch: { percent: 100 }, pause: 0, failureBudget: { count: 0 } }, lockRequired: true },
  ]);
});

test("apps.d: a directory that does not exist means no apps; an empty file is refused for its missing keys", (t) => {
  const apps = tempDir(t, "dk-catalog-");
  t.is(readAppCatalog(join(apps, "missing")).size, 0);
  writeFileSync(join(apps, "shop.yaml"), "");
  const error = t.throws(() => readAppCatalog(apps), { instanceOf: AppCatalogError });
  t.regex(error?.message ?? "", /shop\.yaml: .*url.*environments/);
});

test("apps.d: a directory that cannot be read names conductor.appsDir", (t) => {
  const apps = tempDir(t, "dk-catalog-");
  writeFileSync(join(apps, "file"), "");
  const error = t.throws(() => readAppCatalog(join(apps, "file")), { instanceOf: AppCatalogError });
  t.regex(error?.message ?? "", /conductor\.appsDir .*file cannot be read/);
});

test("the default repo name is the URL's path, lowercased, without .git; a local path falls back to the app name", (t) => {
  t.is(defaultRepoName("https://git.example.com/Acme/Shop.git", "shop"), "acme/shop");
  t.is(defaultRepoName("ssh://git@git.example.com:2222/acme/shop.git/", "shop"), "acme/shop");
  t.is(defaultRepoName("git@github.com:acme/shop.git", "shop"), "acme/shop");
  t.is(defaultRepoName("https://gitlab.example.com/group/sub/shop", "shop"), "group/sub/shop");
  t.is(defaultRepoName("/srv/git/shop.git", "shop"), "shop");
  t.is(defaultRepoName("file:///srv/git/shop.git", "web"), "web");
  t.is(defaultRepoName("https://git.example.com/~acme/shop", "shop"), "shop", "a path that is no repo name falls back");
});

test("apps.d refuses what an operator must fix, naming the file and the key", (t) => {
  const env = "environments:\n  - name: staging\n";
  const url = "url: https://git.example.com/acme/shop.git\n";
  const cases: [string, string, RegExp][] = [
    ["Shop.yaml", url + env, /file name must be the app name/],
    ["shop.yaml", env, /url/],
    ["shop.yaml", `url: '--upload-pack=touch /tmp/x'\n${env}`, /url: starts with '-'/],
    ["shop.yaml", `url: 'ext::sh'\n${env}`, /url: .*transport helper/],
    ["shop.yaml", url, /environments/],
    ["shop.yaml", `${url}environments: []\n`, /environments: list at least one environment/],
    ["shop.yaml", `${url}environments:\n  - name: staging\n  - name: staging\n`, /environments\.1\.name: staging is listed twice/],
    ["shop.yaml", `${url}environments:\n  - name: Staging\n`, /environments\.0\.name/],
    ["shop.yaml", `${url}${env}    target:\n      class: [shop]\n`, /environments\.0\.target.*class/],
    ["shop.yaml", `${url}${env}    target:\n      identities: ['-web-1']\n`, /environments\.0\.target\.identities\.0/],
    ["shop.yaml", `${url}${env}    rollout:\n      canary: -1\n`, /rollout\.canary/],
    ["shop.yaml", `${url}${env}    rollout:\n      batch: 0\n`, /rollout\.batch: must be a host count \(1 or more\)/],
    ["shop.yaml", `${url}${env}    rollout:\n      batch: 0%\n`, /rollout\.batch/],
    ["shop.yaml", `${url}${env}    rollout:\n      batch: 150%\n`, /rollout\.batch/],
    ["shop.yaml", `${url}${env}    rollout:\n      batch: 12.5%\n`, /rollout\.batch: .*whole percent/],
    ["shop.yaml", `${url}${env}    rollout:\n      failureBudget: -1\n`, /rollout\.failureBudget/],
    ["shop.yaml", `${url}${env}    rollout:\n      pause: soon\n`, /rollout\.pause: must be a duration/],
    ["shop.yaml", `${url}${env}    rollout:\n      hostTimeout: 0\n`, /rollout\.hostTimeout: must be longer than 0/],
    ["shop.yaml", `${url}${env}    rollout:\n      canaries: 1\n`, /rollout.*canaries/],
    ["shop.yaml", `${url}${env}    gate:\n      jobs: []\n`, /gate\.jobs: list at least one job/],
    ["shop.yaml", `${url}${env}    gate:\n      jobs: [a, a]\n`, /gate\.jobs: lists a job twice/],
    ["shop.yaml", `${url}${env}    lockRequired: maybe\n`, /lockRequired/],
    ["shop.yaml", `${url}repo: Acme/Shop\n${env}`, /repo: must be the repository's name/],
    ["shop.yaml", `${url}${env}strategy: release\n`, /strategy/],
    ["shop.yaml", `${url}${env}  - [broken`, /cannot be read/],
  ];
  for (const [file, text, message] of cases) {
    const apps = tempDir(t, "dk-catalog-");
    writeFileSync(join(apps, file), text);
    const error = t.throws(() => readAppCatalog(apps), { instanceOf: AppCatalogError }, `${file}: ${text}`);
    t.regex(error?.message ?? "", message, `${file}: ${text}`);
    t.true(error?.message.includes(join(apps, file)), `names the file: ${error?.message}`);
  }
});

test("apps.d refuses an app configured twice, as .yaml and .yml", (t) => {
  const apps = tempDir(t, "dk-catalog-");
  const text = "url: https://git.example.com/acme/shop.git\nenvironments:\n  - name: staging\n";
  writeFileSync(join(apps, "shop.yaml"), text);
  writeFileSync(join(apps, "shop.yml"), text);
  const error = t.throws(() => readAppCatalog(apps), { instanceOf: AppCatalogError });
  t.regex(error?.message ?? "", /app shop is configured twice/);
});
