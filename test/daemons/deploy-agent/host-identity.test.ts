import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { fqdn, hostIdentity, type IdentityOptions } from "../../../daemons/deploy-agent/host-identity.ts";

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), "dk-hi-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A stand-in facter: refuses anything but `--json`, so the test also proves the argv.
function fakeFacter(dir: string, script: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "facter"), `#!/bin/sh\n[ "$1" = "--json" ] && [ $# -eq 1 ] || { echo "bad args: $*" >&2; exit 64; }\n${script}\n`);
  chmodSync(join(bin, "facter"), 0o755);
  return bin;
}

const facterJson = JSON.stringify({ os: { family: "Debian", release: { major: "12" } }, role: "base", processors: { count: 4 } });

function options(overrides: Partial<IdentityOptions>): IdentityOptions {
  return { identity: "web-1.example.com", factsFile: "", facter: false, classesFile: "", classes: [], env: { PATH: "/nonexistent" }, ...overrides };
}

test("fqdn answers with a valid host name", async (t) => {
  const name = await fqdn();
  t.regex(name, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  t.true(name.length <= 253);
});

test("an empty identity means the host's FQDN; a configured one is kept as written", async (t) => {
  t.is((await hostIdentity(options({ identity: "" }))).identity, await fqdn());
  t.is((await hostIdentity(options({ identity: "Web_1.dc-2.example.com" }))).identity, "Web_1.dc-2.example.com");
});

test("a configured identity that is not a host name names the key to fix", async (t) => {
  for (const identity of ["web 1", "-web1", ".web1", "web/1", "a".repeat(254), "web1\n"]) {
    const error = await t.throwsAsync(hostIdentity(options({ identity })));
    t.regex(error?.message ?? "", /deploy-agent\.identity/, identity);
    t.regex(error?.message ?? "", /DEPLOYKIT_DEPLOY_AGENT_IDENTITY/, identity);
  }
});

test("facter's facts are the base and a YAML facts file overrides them key by key", async (t) => {
  const dir = tempDir(t);
  const bin = fakeFacter(dir, `echo '${facterJson}'`);
  const factsFile = join(dir, "facts.yaml");
  writeFileSync(factsFile, "role: web\nos:\n  family: RedHat\ndatacenter: ams\nweight: 10\n");
  const host = await hostIdentity(options({ facter: true, factsFile, env: { PATH: `/nonexistent:${bin}` } }));
  t.deepEqual(host.facts, { os: { family: "RedHat" }, role: "web", processors: { count: 4 }, datacenter: "ams", weight: 10 });
  t.deepEqual(host.factSources, [`${join(bin, "facter")} --json`, factsFile]);
  t.deepEqual(host.warnings, []);
});

test("a JSON facts file is merged over facter the same way", async (t) => {
  const dir = tempDir(t);
  const bin = fakeFacter(dir, `echo '${facterJson}'`);
  const factsFile = join(dir, "facts.json");
  writeFileSync(factsFile, JSON.stringify({ role: "db", tier: { name: "gold" } }));
  const host = await hostIdentity(options({ facter: true, factsFile, env: { PATH: bin } }));
  t.deepEqual(host.facts, { os: { family: "Debian", release: { major: "12" } }, role: "db", processors: { count: 4 }, tier: { name: "gold" } });
});

test("facter is not run when the option is off", async (t) => {
  const dir = tempDir(t);
  const bin = fakeFacter(dir, `echo '${facterJson}'`);
  const host = await hostIdentity(options({ facter: false, env: { PATH: bin } }));
  t.deepEqual(host.facts, {});
  t.deepEqual(host.factSources, []);
});

test("without facter on PATH the facts file alone is used, without complaint", async (t) => {
  const dir = tempDir(t);
  const factsFile = join(dir, "facts.yaml");
  writeFileSync(factsFile, "role: web\n");
  mkdirSync(join(dir, "empty"));
  const host = await hostIdentity(options({ facter: true, factsFile, env: { PATH: join(dir, "empty") } }));
  t.deepEqual(host.facts, { role: "web" });
  t.deepEqual(host.factSources, [factsFile]);
  t.deepEqual(host.warnings, []);
});

test("a facter that fails or prints something else is a warning and contributes nothing", async (t) => {
  for (const [script, reason] of [
    ["echo 'no ruby' >&2; exit 1", /failed \(exit 1\): no ruby/],
    ["echo 'not json'", /not JSON/],
    ["echo '[1, 2]'", /not an object/],
  ] as const) {
    const dir = tempDir(t);
    const bin = fakeFacter(dir, script);
    const factsFile = join(dir, "facts.yaml");
    writeFileSync(factsFile, "role: web\n");
    const host = await hostIdentity(options({ facter: true, factsFile, env: { PATH: bin } }));
    t.deepEqual(host.facts, { role: "web" }, script);
    t.is(host.warnings.length, 1, script);
    t.regex(host.warnings[0] ?? "", reason, script);
    t.deepEqual(host.factSources, [factsFile], script);
  }
});

test("a missing facts file or classes file is a warning, not an error", async (t) => {
  const dir = tempDir(t);
  const host = await hostIdentity(options({ factsFile: join(dir, "facts.yaml"), classesFile: join(dir, "classes.txt"), classes: ["base"] }));
  t.deepEqual(host.facts, {});
  t.deepEqual(host.classes, ["base"]);
  t.deepEqual(host.factSources, []);
  t.is(host.warnings.length, 2);
  t.true(host.warnings[0]?.includes(join(dir, "facts.yaml")));
  t.true(host.warnings[1]?.includes(join(dir, "classes.txt")));
});

test("a malformed facts file is an error naming the file", async (t) => {
  const dir = tempDir(t);
  const cases: [string, string][] = [
    ["broken.yaml", "role: [web\n"],
    ["broken.json", '{"role": "web",}'],
    ["list.yaml", "- role\n- web\n"],
    ["scalar.yml", "just words\n"],
    ["duplicate.yaml", "role: web\nrole: db\n"],
  ];
  for (const [name, text] of cases) {
    const factsFile = join(dir, name);
    writeFileSync(factsFile, text);
    const error = await t.throwsAsync(hostIdentity(options({ factsFile })), undefined, name);
    t.true(error?.message.includes(factsFile), error?.message);
  }
});

test("an empty facts file gives no facts and a warning", async (t) => {
  const factsFile = join(tempDir(t), "facts.yaml");
  writeFileSync(factsFile, "");
  const host = await hostIdentity(options({ factsFile }));
  t.deepEqual(host.facts, {});
  t.regex(host.warnings.join("\n"), /empty/);
});

test("Puppet's own facts cache (a Ruby-tagged YAML object) yields its values", async (t) => {
  const factsFile = join(tempDir(t), "web-1.example.com.yaml");
  writeFileSync(factsFile, "--- !ruby/object:Puppet::Node::Facts\nname: web-1.example.com\nvalues:\n  role: web\n  os:\n    family: Debian\n");
  const host = await hostIdentity(options({ factsFile }));
  t.deepEqual(host.facts, { role: "web", os: { family: "Debian" } });
});

test("classes come from the classes file and the configuration, trimmed, without empty lines or duplicates", async (t) => {
  const classesFile = join(tempDir(t), "classes.txt");
  writeFileSync(classesFile, "settings\n  nginx  \n\nprofile::web\r\nnginx\n\t\ndefault\n");
  const host = await hostIdentity(options({ classesFile, classes: [" role::web ", "nginx", "", "monitoring"] }));
  t.deepEqual(host.classes, ["settings", "nginx", "profile::web", "default", "role::web", "monitoring"]);
  t.deepEqual(host.factSources, [classesFile]);
});

test("a classes file that cannot be read (a directory) is an error naming it", async (t) => {
  const dir = tempDir(t);
  const error = await t.throwsAsync(hostIdentity(options({ classesFile: dir })));
  t.true(error?.message.includes(dir));
  t.regex(error?.message ?? "", /deploy-agent\.classesFile/);
});
