import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { globPattern } from "../../../daemons/bus-to-jenkins/glob-pattern.ts";
import { jobPath } from "../../../daemons/bus-to-jenkins/job-path.ts";
import { type Commit, loadJobsFile } from "../../../daemons/bus-to-jenkins/jobs-file.ts";
import { ConfigError } from "../../../shared/config/read-config.ts";
import { gitPushBody } from "../../helpers/git-push-body.ts";

const sha = "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";
const correlationId = "3f0e6c4e-9a51-4c1e-8a43-5b0f1e7d2c11";

function jobsFile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "dk-jobs-")), "jenkins-jobs.yaml");
  writeFileSync(path, text);
  return path;
}

function commit(overrides: Partial<Commit> = {}): Commit {
  return gitPushBody({
    repo: { name: "acme/shop", urls: ["https://github.com/acme/shop.git", "git@github.com:acme/shop.git"] },
    before: "0".repeat(40),
    after: sha,
    ...overrides,
  }) as Commit;
}

function load(text: string) {
  const path = jobsFile(text);
  return { path, rules: loadJobsFile(path, { optional: false }) ?? [] };
}

test("glob patterns: * stays within a segment, ** crosses segments, ? is one character, the rest is literal", (t) => {
  const heads = globPattern("refs/heads/*");
  t.true(heads.test("refs/heads/main"));
  t.false(heads.test("refs/heads/feature/x"));
  t.true(globPattern("refs/heads/**").test("refs/heads/feature/x"));
  t.true(globPattern("refs/tags/v?.*").test("refs/tags/v1.2"));
  t.false(globPattern("refs/tags/v?.*").test("refs/tags/v12.2"));
  t.false(globPattern("refs/heads/a.b").test("refs/heads/aXb"), "a dot is a dot");
  t.false(globPattern("refs/heads/(x|y)").test("refs/heads/x"), "regex syntax is literal");
  t.true(globPattern("refs/heads/(x|y)").test("refs/heads/(x|y)"));
});

test("job paths: folders become /job/A/job/B, each segment URL-encoded; names Jenkins refuses are refused", (t) => {
  t.deepEqual(jobPath("team/app/main"), { name: "team/app/main", urlPath: "/job/team/job/app/job/main" });
  t.is(jobPath("Team Shop/release 2.x").urlPath, "/job/Team%20Shop/job/release%202.x");
  for (const [bad, why] of [
    ["team/../admin", /"\.\." is not a Jenkins item name/],
    ["/team/app", /empty segment/],
    ["team//app", /empty segment/],
    ["team/app?x=1", /contains "\?"/],
    ["team/a%2Fb", /contains "%"/],
    ["team/$(touch x)", /contains "\$"/],
    ["team/ app", /starts or ends with a space/],
    ["", /empty/],
  ] as const) {
    t.throws(() => jobPath(bad), { message: why }, bad);
  }
});

test("an entry maps repo, ref patterns minus ignored ones to a job and its parameters, with the DEPLOYKIT_* ones", (t) => {
  const { rules } = load(`
jobs:
  - repo: Acme/Shop
    refs: ["refs/heads/*", "refs/tags/v*"]
    ignore: ["refs/heads/wip-*"]
    job: team/shop/main
    parameters:
      TARGET: staging
      BRANCH: "{shortRef}"
      WHAT: "{repo}@{sha}"
      RETRIES: 3
`);
  const [rule] = rules;
  t.truthy(rule);
  if (!rule) return;
  t.is(rule.job.urlPath, "/job/team/job/shop/job/main");
  t.true(rule.matches(commit()));
  t.true(rule.matches(commit({ repo: { name: "ACME/shop", urls: [] } })), "names compare lowercased");
  t.true(rule.matches(commit({ ref: "refs/tags/v1.0" })));
  t.false(rule.matches(commit({ ref: "refs/heads/wip-thing" })), "ignored");
  t.false(rule.matches(commit({ ref: "refs/heads/feature/x" })), "* does not cross /");
  t.false(rule.matches(commit({ repo: { name: "acme/shopfront", urls: [] } })));
  t.deepEqual(rule.parameters(commit({ ref: "refs/tags/v1.0" }), correlationId), {
    TARGET: "staging",
    BRANCH: "v1.0",
    WHAT: `acme/shop@${sha}`,
    RETRIES: "3",
    DEPLOYKIT_REPO: "acme/shop",
    DEPLOYKIT_REF: "refs/tags/v1.0",
    DEPLOYKIT_SHA: sha,
    DEPLOYKIT_CORRELATION_ID: correlationId,
  });
});

test("defaults: every branch, no tag; repo by clone URL or name pattern; a job without parameters gets none", (t) => {
  const { rules } = load(`
jobs:
  - repo: "git@github.com:acme/shop.git"
    job: shop
  - repo: "acme/*"
    job: all-of-acme
    deploykitParameters: false
`);
  const [byUrl, byPattern] = rules;
  if (!byUrl || !byPattern) return t.fail();
  t.true(byUrl.matches(commit({ ref: "refs/heads/feature/deep/x" })));
  t.false(byUrl.matches(commit({ ref: "refs/tags/v1" })));
  t.true(byUrl.matches(commit({ repo: { name: "whatever", urls: ["https://GitHub.com/acme/shop"] } })), "the https URL of the same repository");
  t.false(byUrl.matches(commit({ repo: { name: "acme/shop", urls: ["https://github.com/acme/shop-old.git"] } })), "a URL entry matches that repository only");
  t.false(byUrl.matches(commit({ repo: { name: "acme/shop", urls: ["https://gitlab.com/acme/shop.git"] } })), "on that host only");
  t.true(byPattern.matches(commit({ repo: { name: "acme/other", urls: [] } })));
  t.false(byPattern.matches(commit({ repo: { name: "acme/sub/other", urls: [] } })));
  t.is(byPattern.parameters(commit(), correlationId), undefined);
  t.is(byUrl.parameters(commit({ after: "r1234", provider: "svn-hook" }), correlationId)?.DEPLOYKIT_SHA, undefined, "an svn revision is not a sha");
});

test("a bad file is refused at start with the file, the entry and what to fix", (t) => {
  const cases: [string, RegExp][] = [
    ["jobs:\n  - repo: acme/shop\n    job: [broken\n", /is not valid YAML/],
    ["- repo: acme/shop\n  job: x\n", /the file holds one key, jobs/],
    ["jobs:\n  - repo: acme/shop\n", /jobs\[0\] \(acme\/shop\): job: Invalid input: expected string/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n  - repo: acme/web\n    job: team/../x\n", /jobs\[1\] \(acme\/web → team\/\.\.\/x\): job "team\/\.\.\/x": "\.\." is not a Jenkins item name/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n    refs: [main]\n", /jobs\[0\] \(acme\/shop\): refs\[0\]: must be a full ref pattern/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n    ref: refs/heads/main\n", /jobs\[0\] \(acme\/shop\): Unrecognized key: "ref"/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n    parameters: {BRANCH: \"{branch}\"}\n", /parameters\.BRANCH: "\{branch\}" uses \{branch\}; the placeholders are \{repo\}, \{ref\}, \{shortRef\}, \{sha\}/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n    parameters: {DEPLOYKIT_REF: main}\n", /DEPLOYKIT_REF are set by deploykit/],
    ["jobs:\n  - repo: acme/shop\n    job: x\n    parameters: {\"bad name\": 1}\n", /is not a parameter name/],
  ];
  for (const [text, message] of cases) {
    const path = jobsFile(text);
    const err = t.throws(() => loadJobsFile(path, { optional: false }), { instanceOf: ConfigError, message }, text);
    t.true(err?.message.startsWith(path), `${err?.message} names the file`);
  }
});

test("a missing file is an error when named, and undefined when it is the optional default", (t) => {
  const path = join(mkdtempSync(join(tmpdir(), "dk-jobs-")), "absent.yaml");
  t.throws(() => loadJobsFile(path, { optional: false }), { instanceOf: ConfigError, message: /absent\.yaml does not exist: create it/ });
  t.is(loadJobsFile(path, { optional: true }), undefined);
  t.deepEqual(load("# nothing yet\n").rules, []);
});
