import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { readReposFile } from "../../../daemons/repo-fetcher/repos-file.ts";
import { tempDir } from "./fetcher-fixture.ts";

test("a directory of *.yaml and *.yml files is read in name order, with defaults for path and fetchOn", (t) => {
  const dir = tempDir(t);
  const reposD = join(dir, "repos.d");
  mkdirSync(reposD);
  writeFileSync(join(reposD, "20-api.yml"), "repos:\n  - name: acme/api\n    url: git@github.com:acme/api.git\n    fetchOn: commit\n    user: deploy\n");
  writeFileSync(join(reposD, "10-web.yaml"), "repos:\n  - name: acme/web\n    url: https://github.com/acme/web.git\n    path: /srv/mirrors/web.git\n");
  writeFileSync(join(reposD, "README"), "not yaml: ignored");
  writeFileSync(join(reposD, ".30-hidden.yaml"), "repos: [{name: x/y, url: /z}]");
  writeFileSync(join(reposD, "40-empty.yaml"), "");
  const { repos, files } = readReposFile(reposD, "/data/mirrors");
  t.deepEqual(files, ["10-web.yaml", "20-api.yml", "40-empty.yaml"].map((file) => join(reposD, file)));
  t.deepEqual(repos, [
    { name: "acme/web", url: "https://github.com/acme/web.git", path: "/srv/mirrors/web.git", user: undefined, fetchOn: "build", file: join(reposD, "10-web.yaml") },
    { name: "acme/api", url: "git@github.com:acme/api.git", path: "/data/mirrors/acme/api.git", user: "deploy", fetchOn: "commit", file: join(reposD, "20-api.yml") },
  ]);
});

test("one file works too; without mirrorDir, mirrors go under /var/lib/deploykit/mirrors", (t) => {
  const file = join(tempDir(t), "repos.yaml");
  writeFileSync(file, "repos:\n  - {name: group/sub/app, url: /srv/git/app.git}\n");
  const { repos } = readReposFile(file, "");
  t.is(repos[0]?.path, "/var/lib/deploykit/mirrors/group/sub/app.git");
});

test("a location that does not exist means no repositories", (t) => {
  t.deepEqual(readReposFile(join(tempDir(t), "missing.d"), ""), { repos: [], files: [] });
});

test("bad entries are refused with the file, the entry and how to fix it", (t) => {
  const dir = tempDir(t);
  const cases: [string, RegExp][] = [
    ["repos:\n  - {name: Acme/Web, url: /x}\n", /repos\.0\.name: must be the repository's path on its git server, lowercased/],
    ["repos:\n  - {name: ../etc, url: /x}\n", /repos\.0\.name/],
    ["repos:\n  - {name: acme/web, url: '--upload-pack=touch /tmp/x'}\n", /repos\.0\.url: starts with '-'/],
    ["repos:\n  - {name: acme/web, url: /x, path: relative/web.git}\n", /repos\.0\.path: must be an absolute path/],
    ["repos:\n  - {name: acme/web, url: /x, user: '-root'}\n", /repos\.0\.user: must be a user name/],
    ["repos:\n  - {name: acme/web, url: /x, fetchOn: always}\n", /repos\.0\.fetchOn/],
    ["repos:\n  - {name: acme/web, url: /x, fetch_on: commit}\n", /Unrecognized key.*fetch_on/],
    ["repositories: []\n", /Unrecognized key.*repositories/],
    ["repos: [\n", /cannot be read/],
  ];
  for (const [index, [text, reason]] of cases.entries()) {
    const file = join(dir, `case-${index}.yaml`);
    writeFileSync(file, text);
    const error = t.throws(() => readReposFile(file, "/m"));
    t.true(error?.message.includes(file), error?.message);
    t.regex(error?.message ?? "", reason, text);
  }
});

test("a repository listed twice, or two sharing a mirror, is refused", (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, "a.yaml"), "repos:\n  - {name: acme/web, url: /x}\n");
  writeFileSync(join(dir, "b.yaml"), "repos:\n  - {name: acme/web, url: /y}\n");
  t.throws(() => readReposFile(dir, "/m"), { message: /acme\/web is listed twice .*a\.yaml and .*b\.yaml/ });
  writeFileSync(join(dir, "b.yaml"), "repos:\n  - {name: acme/other, url: /y, path: /m/acme/web.git}\n");
  t.throws(() => readReposFile(dir, "/m"), { message: /acme\/web and acme\/other share the mirror \/m\/acme\/web\.git/ });
});
