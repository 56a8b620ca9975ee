import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { root, tempDir } from "./hook-fixture.ts";

// hooks/jenkins/ can only be checked at the level of syntax and of what it
// calls: there is no Jenkins here, and `deploykit jenkins-notify` has its own
// tests. A stand-in deploykit records the arguments it is given.

const script = join(root, "hooks", "jenkins", "deploykit-notify.sh");
const snippet = readFileSync(join(root, "hooks", "jenkins", "Jenkinsfile.snippet"), "utf8");

function recorder(dir: string, exitCode = 0): { bin: string; calls: () => string[] } {
  const bin = join(dir, "deploykit");
  const log = join(dir, "calls");
  writeFileSync(log, "");
  writeFileSync(bin, `#!/bin/sh\necho "$*" >> '${log}'\nexit ${exitCode}\n`, { mode: 0o755 });
  return { bin, calls: () => readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

function notify(args: string[], env: Record<string, string>) {
  return execa("sh", [script, ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, extendEnv: false, reject: false });
}

test("deploykit-notify.sh is valid sh", async (t) => {
  const result = await execa("sh", ["-n", script], { reject: false });
  t.is(result.exitCode, 0, String(result.stderr));
});

test("deploykit-notify.sh calls deploykit jenkins-notify with the phase, for each phase", async (t) => {
  const { bin, calls } = recorder(tempDir("dk-jenkins-"));
  for (const phase of ["started", "succeeded", "failed", "aborted"]) {
    const result = await notify([phase], { DEPLOYKIT_BIN: bin });
    t.is(result.exitCode, 0);
    t.is(String(result.stderr), "");
  }
  t.deepEqual(calls(), ["jenkins-notify --phase started", "jenkins-notify --phase succeeded", "jenkins-notify --phase failed", "jenkins-notify --phase aborted"]);
});

test("deploykit-notify.sh never fails the build: a bad phase, a missing or failing deploykit cost one warning line", async (t) => {
  const dir = tempDir("dk-jenkins-");
  const { bin, calls } = recorder(dir);
  const bad = await notify(["exploded"], { DEPLOYKIT_BIN: bin });
  t.is(bad.exitCode, 0);
  t.regex(String(bad.stderr), /^deploykit-notify: warning: the phase must be started, succeeded, failed or aborted, not 'exploded'; nothing reported$/);
  const shell = await notify(["$(touch pwned)"], { DEPLOYKIT_BIN: bin });
  t.is(shell.exitCode, 0);
  t.deepEqual(calls(), [], "deploykit was not called for a bad phase");

  const missing = await notify(["started"], { DEPLOYKIT_BIN: join(dir, "nowhere") });
  t.is(missing.exitCode, 0);
  t.is(String(missing.stderr).trim().split("\n").length, 1);
  t.regex(String(missing.stderr), /not found \(set DEPLOYKIT_BIN\)/);

  const failing = recorder(tempDir("dk-jenkins-"), 69);
  const failed = await notify(["succeeded"], { DEPLOYKIT_BIN: failing.bin });
  t.is(failed.exitCode, 0);
  t.regex(String(failed.stderr), /jenkins-notify exited with status 69/);
});

test("Jenkinsfile.snippet: balanced braces, and each post condition reports its phase through deploykit-notify.sh", async (t) => {
  const code = snippet.replace(/\/\/.*$/gm, "").replace(/'[^']*'/g, "''");
  let depth = 0;
  for (const char of code) {
    if (char === "{") depth++;
    if (char === "}") depth--;
    t.true(depth >= 0, "no closing brace before its opening one");
  }
  t.is(depth, 0, "every brace closed");
  const phaseOf = (block: string) => new RegExp(`${block} \\{\\s*sh 'deploykit-notify\\.sh (\\w+)'\\s*\\}`).exec(snippet)?.[1];
  t.is(phaseOf("success"), "succeeded");
  t.is(phaseOf("failure"), "failed");
  t.is(phaseOf("unstable"), "failed");
  t.is(phaseOf("aborted"), "aborted");
  t.regex(snippet, /steps \{\s*sh 'deploykit-notify\.sh started'\s*\}/);
  for (const parameter of ["DEPLOYKIT_CORRELATION_ID", "DEPLOYKIT_REPO", "DEPLOYKIT_REF", "DEPLOYKIT_SHA"]) {
    t.true(snippet.includes(`string(name: '${parameter}'`), parameter);
  }
  // Every command the snippet runs is one the script accepts.
  const { bin, calls } = recorder(tempDir("dk-jenkins-"));
  const commands = [...snippet.matchAll(/sh '([^']*)'/g)].map((match) => match[1] as string);
  for (const command of commands) {
    const [name, ...args] = command.split(" ");
    t.is(name, "deploykit-notify.sh");
    const result = await notify(args, { DEPLOYKIT_BIN: bin });
    t.is(String(result.stderr), "", command);
  }
  t.is(calls().length, commands.length);
});
