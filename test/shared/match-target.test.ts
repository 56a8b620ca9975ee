import test from "ava";
import { matchTarget, type TargetHost } from "../../shared/match-target.ts";
import { targetFilter } from "../../shared/messages/types.ts";

const web1: TargetHost = {
  identity: "web-1.example.com",
  facts: {
    role: "web",
    os: { family: "Debian", release: { major: "12", full: "12.5" } },
    processors: { count: 8 },
    is_virtual: true,
    "ec2.instance": { type: "m5.large" },
    disks: [{ name: "sda" }],
    nothing: null,
  },
  classes: ["settings", "nginx", "profile::web"],
};

test("an empty filter matches every host, without naming it", (t) => {
  t.deepEqual(matchTarget({}, web1), { matches: true, named: false, why: "an empty filter matches every host" });
  t.true(matchTarget(targetFilter.parse({}), { identity: "x", facts: {}, classes: [] }).matches);
});

test("an identity listed literally matches and names the host", (t) => {
  t.deepEqual(matchTarget({ identities: ["db-1.example.com", "web-1.example.com"] }, web1), { matches: true, named: true, why: "matches identity" });
  const other = matchTarget({ identities: ["db-1.example.com"] }, web1);
  t.deepEqual(other, { matches: false, named: false, why: "identity web-1.example.com is not listed" });
});

test("identities are compared exactly, not as prefixes or case-insensitively", (t) => {
  t.false(matchTarget({ identities: ["web-1"] }, web1).matches);
  t.false(matchTarget({ identities: ["WEB-1.example.com"] }, web1).matches);
  t.false(matchTarget({ identities: ["web-1.example.com.au"] }, web1).matches);
});

test("an empty identity list matches no host", (t) => {
  const result = matchTarget({ identities: [] }, web1);
  t.false(result.matches);
  t.false(result.named);
  t.regex(result.why, /identity list is empty/);
});

test("an identity written /regex/ is a regular expression, anchored only if its author anchors it", (t) => {
  const byRegex = matchTarget({ identities: ["/^web-\\d+\\./"] }, web1);
  t.true(byRegex.matches);
  t.false(byRegex.named, "a regex does not name the host");
  t.true(matchTarget({ identities: ["/example/"] }, web1).matches, "unanchored matches anywhere");
  t.false(matchTarget({ identities: ["/^example/"] }, web1).matches);
  t.false(matchTarget({ identities: ["/^db-/"] }, web1).matches);
  t.true(matchTarget({ identities: ["/^db-/", "/^web-/"] }, web1).matches);
  // A lone slash, or slashes inside, are literal names, never regexes.
  t.false(matchTarget({ identities: ["/"] }, { ...web1, identity: "web" }).matches);
});

test("an invalid regex matches nothing and never throws", (t) => {
  const result = matchTarget({ identities: ["/web-[/"] }, web1);
  t.false(result.matches);
  t.true(matchTarget({ identities: ["/web-[/", "web-1.example.com"] }, web1).matches, "other entries still count");
  const fact = matchTarget({ facts: { role: "/(web/" } }, web1);
  t.false(fact.matches);
  t.regex(fact.why, /role.*not a valid regular expression/);
});

test("every fact must equal its value, compared as strings", (t) => {
  t.deepEqual(matchTarget({ facts: { role: "web" } }, web1), { matches: true, named: false, why: "matches fact role=web" });
  t.deepEqual(matchTarget({ facts: { role: "db" } }, web1), { matches: false, named: false, why: "fact role is web, not db" });
  t.true(matchTarget({ facts: { "processors.count": "8", is_virtual: "true" } }, web1).matches, "numbers and booleans are stringified");
  t.false(matchTarget({ facts: { is_virtual: "false" } }, web1).matches);
  t.false(matchTarget({ facts: { role: "web", "processors.count": "4" } }, web1).matches, "all facts must hold");
  t.false(matchTarget({ facts: { role: "we" } }, web1).matches, "a plain value is not a substring match");
});

test("dotted fact keys reach nested facts", (t) => {
  t.true(matchTarget({ facts: { "os.family": "Debian", "os.release.major": "12" } }, web1).matches);
  t.deepEqual(matchTarget({ facts: { "os.release.major": "11" } }, web1), { matches: false, named: false, why: "fact os.release.major is 12, not 11" });
  t.true(matchTarget({ facts: { "ec2.instance.type": "m5.large" } }, web1).matches, "a fact name with a dot in it");
  t.true(matchTarget({ facts: { "disks.0.name": "sda" } }, web1).matches, "a list reached by index");
});

test("a missing, null or structured fact does not match", (t) => {
  t.regex(matchTarget({ facts: { datacenter: "ams" } }, web1).why, /fact datacenter is not set/);
  t.regex(matchTarget({ facts: { "os.kernel": "Linux" } }, web1).why, /fact os\.kernel is not set/);
  t.regex(matchTarget({ facts: { "role.name": "web" } }, web1).why, /not set/);
  t.false(matchTarget({ facts: { nothing: "null" } }, web1).matches);
  t.regex(matchTarget({ facts: { os: "[object Object]" } }, web1).why, /fact os is a structure/);
  t.false(matchTarget({ facts: { constructor: "/./", toString: "/./" } }, web1).matches, "inherited properties are not facts");
});

test("a fact value written /regex/ is a regular expression", (t) => {
  t.true(matchTarget({ facts: { role: "/^(web|api)$/" } }, web1).matches);
  t.true(matchTarget({ facts: { "os.release.full": "/^12\\./" } }, web1).matches);
  t.deepEqual(matchTarget({ facts: { role: "/^db/" } }, web1), { matches: false, named: false, why: "fact role is web, not matching /^db/" });
});

test("every listed class must be present", (t) => {
  t.true(matchTarget({ classes: ["nginx", "profile::web"] }, web1).matches);
  t.deepEqual(matchTarget({ classes: ["nginx", "mysql"] }, web1), { matches: false, named: false, why: "class mysql is missing" });
  t.false(matchTarget({ classes: ["profile"] }, web1).matches, "no partial class names");
});

test("identity, facts and classes together must all hold", (t) => {
  const filter = { identities: ["web-1.example.com"], facts: { role: "web" }, classes: ["nginx"] };
  t.deepEqual(matchTarget(filter, web1), { matches: true, named: true, why: "matches identity, fact role=web, class nginx" });
  const wrongClass = matchTarget({ ...filter, classes: ["mysql"] }, web1);
  t.false(wrongClass.matches);
  t.true(wrongClass.named, "named even when another criterion fails, so the agent can say why it refuses");
  t.false(matchTarget({ ...filter, facts: { role: "db" } }, web1).matches);
  t.false(matchTarget({ ...filter, identities: ["web-2.example.com"] }, web1).matches);
});
