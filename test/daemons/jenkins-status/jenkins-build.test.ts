import test from "ava";
import { isLoopback } from "../../../daemons/jenkins-status/authorize.ts";
import { BuildInputError, isRepoName, jenkinsBuild, jobFromUrl, normaliseRef, repoFromUrl } from "../../../daemons/jenkins-status/jenkins-build.ts";

test("branches as Jenkins reports them become full refs", (t) => {
  const cases: [string, string | undefined][] = [
    ["origin/main", "refs/heads/main"],
    ["origin/release/2.x", "refs/heads/release/2.x"],
    ["main", "refs/heads/main"],
    ["feature/x", "refs/heads/feature/x"],
    ["remotes/upstream/main", "refs/heads/main"],
    ["refs/remotes/origin/main", "refs/heads/main"],
    ["refs/heads/main", "refs/heads/main"],
    ["refs/tags/v1.2.3", "refs/tags/v1.2.3"],
    ["detached", undefined],
    ["HEAD", undefined],
    ["", undefined],
  ];
  for (const [branch, ref] of cases) t.is(normaliseRef(branch), ref, branch);
});

test("repository names come from clone URLs as owner/name, lowercased, without .git", (t) => {
  const cases: [string, string | undefined][] = [
    ["https://github.com/Acme/Shop.git", "acme/shop"],
    ["https://github.com/acme/shop", "acme/shop"],
    ["https://gitlab.example.com/group/sub/project.git/", "group/sub/project"],
    ["git@github.com:Acme/Shop.git", "acme/shop"],
    ["ssh://git@git.example.com:2222/acme/shop.git", "acme/shop"],
    ["git://git.example.com/acme/shop", "acme/shop"],
    ["file:///srv/git/acme/shop.git", undefined],
    ["/srv/git/acme/shop.git", undefined],
    ["not a url", undefined],
  ];
  for (const [url, name] of cases) t.is(repoFromUrl(url), name, url);
  t.true(isRepoName("acme/shop"));
  t.true(isRepoName("acme/.github"));
  t.false(isRepoName("acme/../etc"));
  t.false(isRepoName("-acme/shop"));
  t.false(isRepoName("Acme/Shop"), "names are lowercase");
  t.false(isRepoName("acme/$(touch x)"));
});

test("a job's URL gives its full name with folders", (t) => {
  t.is(jobFromUrl("job/team/job/shop/job/main/"), "team/shop/main");
  t.is(jobFromUrl("job/Shop%20Deploy/job/staging/"), "Shop Deploy/staging");
  t.is(jobFromUrl("job/shop-nightly/"), "shop-nightly");
  t.is(jobFromUrl("view/all/job/x/"), undefined);
  t.is(jobFromUrl("job/"), undefined);
});

test("loopback means 127.0.0.0/8 and ::1, also IPv4-mapped", (t) => {
  for (const address of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) t.true(isLoopback(address), address);
  for (const address of ["192.0.2.2", "::ffff:192.0.2.2", "10.0.0.1", "fe80::1", "", undefined]) t.false(isLoopback(address), String(address));
});

test("the commit Jenkins built wins over the pushed one, and the difference is a warning", (t) => {
  const built = "a".repeat(40);
  const pushed = "b".repeat(40);
  const build = jenkinsBuild({ job: "shop", number: 1, phase: "succeeded", commit: { value: built, from: "GIT_COMMIT" }, sha: { value: pushed, from: "DEPLOYKIT_SHA" } });
  t.is(build.body.sha, built);
  t.deepEqual(build.warnings, [`Jenkins built ${built}, not the pushed ${pushed} (DEPLOYKIT_SHA); reporting the commit it built`]);
  t.is(jenkinsBuild({ job: "shop", phase: "started", sha: { value: pushed.toUpperCase(), from: "DEPLOYKIT_SHA" } }).body.sha, pushed);
});

test("values that are not what they claim are refused, naming where they came from", (t) => {
  const base = { job: "shop", number: 1, phase: "started" as const };
  const cases: [Parameters<typeof jenkinsBuild>[0], RegExp][] = [
    [{ ...base, ref: { value: "--upload-pack=touch /tmp/x", from: "DEPLOYKIT_REF" } }, /^DEPLOYKIT_REF "--upload-pack=touch \/tmp\/x" is not a full git ref/],
    [{ ...base, ref: { value: "main", from: "DEPLOYKIT_REF" } }, /is not a full git ref such as refs\/heads\/main/],
    [{ ...base, branch: { value: "$(touch /tmp/x)", from: "GIT_BRANCH" } }, /^GIT_BRANCH "\$\(touch \/tmp\/x\)" is not a valid git branch name/],
    [{ ...base, branch: { value: "origin/-x", from: "build.scm.branch" } }, /^build\.scm\.branch/],
    [{ ...base, commit: { value: "$(touch /tmp/x)", from: "GIT_COMMIT" } }, /^GIT_COMMIT "\$\(touch \/tmp\/x\)" is not a full hex commit id/],
    [{ ...base, commit: { value: "abc123", from: "GIT_COMMIT" } }, /is not a full hex commit id/],
    [{ ...base, repo: { value: "../../etc", from: "DEPLOYKIT_REPO" } }, /^DEPLOYKIT_REPO "\.\.\/\.\.\/etc" is not a repository name/],
    [{ ...base, correlationId: { value: "42", from: "DEPLOYKIT_CORRELATION_ID" } }, /^DEPLOYKIT_CORRELATION_ID "42" is not a uuid/],
    [{ ...base, job: "" }, /the job name "" is empty/],
    [{ ...base, job: "shop\nnext" }, /holds control characters/],
  ];
  for (const [input, message] of cases) t.throws(() => jenkinsBuild(input), { instanceOf: BuildInputError, message }, message.source);
});
