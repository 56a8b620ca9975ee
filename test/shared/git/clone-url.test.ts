import test from "ava";
import { cloneUrlKey, cloneUrlProblem, maskedUrl } from "../../../shared/git/clone-url.ts";

test("the clone URLs a mirror needs are accepted", (t) => {
  for (const url of [
    "https://github.com/acme/web.git",
    "http://git.internal/acme/web",
    "ssh://git@github.com:22/acme/web.git",
    "git://git.internal/acme/web.git",
    "file:///srv/git/acme/web.git",
    "git@github.com:acme/web.git",
    "gitlab.internal:group/sub/web.git",
    "/srv/git/acme/web.git",
  ]) {
    t.is(cloneUrlProblem(url), undefined, url);
  }
});

test("URLs that could be read as options, transport helpers and other schemes are refused with the reason", (t) => {
  const cases: [string, RegExp][] = [
    ["--upload-pack=touch /tmp/x", /starts with '-'/],
    ["-oProxyCommand=x", /starts with '-'/],
    ["ext::sh -c touch% /tmp/x", /space/],
    [`ext::touch\${IFS}/tmp/x`, /transport helper/],
    ["fd::3", /transport helper/],
    ["ssh://-oProxyCommand=x/y", /user or host starting with '-'/],
    ["ssh://-u@host/y", /user or host starting with '-'/],
    ["ftp://example.com/x.git", /ftp:\/\/, which is not allowed/],
    ["file://host/srv/x.git", /with a host/],
    ["ssh:///srv/git/web.git", /has no host/],
    ["host:-path", /not a clone URL/],
    ["relative/path.git", /not a clone URL/],
    ["", /empty/],
    ["/srv/git/web\n.git", /control character/],
  ];
  for (const [url, reason] of cases) t.regex(cloneUrlProblem(url) ?? "accepted", reason, url);
});

test("the same repository written as https, ssh or scp-like gives one key; other repositories do not", (t) => {
  const key = cloneUrlKey("https://github.com/Acme/Web.git");
  t.is(key, "github.com/acme/web");
  t.is(cloneUrlKey("git@github.com:acme/web.git"), key);
  t.is(cloneUrlKey("ssh://git@github.com:22/acme/web/"), key);
  t.is(cloneUrlKey("https://user:secret@github.com/acme/web"), key);
  t.not(cloneUrlKey("https://github.com/acme/web2.git"), key);
  t.not(cloneUrlKey("https://gitlab.com/acme/web.git"), key);
  t.is(cloneUrlKey("file:///srv/git/web.git"), cloneUrlKey("/srv/git/web.git/"));
  t.is(cloneUrlKey("not a url"), undefined);
});

test("a password in a URL is masked for the logs", (t) => {
  t.is(maskedUrl("https://bot:s3cret@git.internal/acme/web.git"), "https://bot:********@git.internal/acme/web.git");
  t.is(maskedUrl("git@github.com:acme/web.git"), "git@github.com:acme/web.git");
});
