import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { cleanEnv, deploykit, root, run, tempDir } from "../../hooks/hook-fixture.ts";

// `deploykit hook install` through the real CLI, on real repositories.

test("installs the post-receive hook in a bare repository, executable, and a second run changes nothing", async (t) => {
  const dir = tempDir("dk-install-");
  const env = cleanEnv(join(dir, "home"));
  const bare = join(dir, "shop.git");
  await run("git", ["init", "-q", "--bare", bare], dir, env);
  const first = await deploykit(["hook", "install", "git-post-receive", bare], dir, env);
  t.is(first.exitCode, 0, String(first.stderr));
  const path = join(bare, "hooks", "post-receive");
  t.is(String(first.stdout).trim(), path);
  t.regex(String(first.stderr), /installed the git-post-receive hook/);
  t.is(readFileSync(path, "utf8"), readFileSync(join(root, "hooks", "git", "post-receive"), "utf8"));
  t.is(statSync(path).mode & 0o777, 0o755);
  const again = await deploykit(["hook", "install", "git-post-receive", bare], dir, env);
  t.is(again.exitCode, 0);
  t.regex(String(again.stderr), /already installed/);
});

test("leaves a hook that is not deploykit's alone unless --force", async (t) => {
  const dir = tempDir("dk-install-");
  const env = cleanEnv(join(dir, "home"));
  const work = join(dir, "work");
  await run("git", ["init", "-q", work], dir, env);
  const path = join(work, ".git", "hooks", "post-commit");
  writeFileSync(path, "#!/bin/sh\necho mine\n", { mode: 0o755 });
  const refused = await deploykit(["hook", "install", "git-post-commit", work], dir, env);
  t.is(refused.exitCode, 73);
  t.regex(String(refused.stderr), /post-commit exists and is not deploykit's: call deploykit from it .* or replace it with --force/);
  t.is(readFileSync(path, "utf8"), "#!/bin/sh\necho mine\n");
  const forced = await deploykit(["hook", "install", "git-post-commit", work, "--force"], dir, env);
  t.is(forced.exitCode, 0);
  t.is(readFileSync(path, "utf8"), readFileSync(join(root, "hooks", "git", "post-commit"), "utf8"));
});

test("follows core.hooksPath, installs into an svn repository, and refuses what is no repository", async (t) => {
  const dir = tempDir("dk-install-");
  const env = cleanEnv(join(dir, "home"));
  const work = join(dir, "work");
  await run("git", ["init", "-q", work], dir, env);
  await run("git", ["config", "core.hooksPath", join(dir, "shared-hooks")], work, env);
  const shared = await deploykit(["hook", "install", "git-post-commit", work], dir, env);
  t.is(shared.exitCode, 0, String(shared.stderr));
  t.is(String(shared.stdout).trim(), join(dir, "shared-hooks", "post-commit"));

  const repos = join(dir, "svn-repo");
  await run("svnadmin", ["create", repos], dir, env);
  const svn = await deploykit(["hook", "install", "svn-post-commit", repos], dir, env);
  t.is(svn.exitCode, 0, String(svn.stderr));
  t.is(readFileSync(join(repos, "hooks", "post-commit"), "utf8"), readFileSync(join(root, "hooks", "svn", "post-commit"), "utf8"));

  const nothing = await deploykit(["hook", "install", "svn-post-commit", join(dir, "work")], dir, env);
  t.is(nothing.exitCode, 66);
  t.regex(String(nothing.stderr), /is not a Subversion repository/);
  const notGit = await deploykit(["hook", "install", "git-post-receive", join(dir, "nowhere")], dir, env);
  t.is(notGit.exitCode, 66);
  t.regex(String(notGit.stderr), /is not a git repository/);
  const unknown = await deploykit(["hook", "install", "hg-post-commit", work], dir, env);
  t.is(unknown.exitCode, 64);
});
