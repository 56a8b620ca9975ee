// The app every side deploys: a small repository with a pre-link and a
// post-deploy script, one annotated tag per deploy (v1, v2, ...), pushed to a
// bare repository that stands in for the mirror every server has. Both
// scripts write a marker into the directory they run in (the new release),
// so the checks afterwards can tell that they ran, and where.
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { gitEnv } from "../../test/helpers/git-env.ts";

export const preLinkMarker = ".pre-link-done";
export const postDeployMarker = ".post-deploy-done";

const files: Record<string, { content: string; mode: number }> = {
  "bin/pre-link": { content: `#!/bin/sh\necho pre-link > ${preLinkMarker}\n`, mode: 0o755 },
  "bin/post-deploy": { content: `#!/bin/sh\necho post-deploy > ${postDeployMarker}\n`, mode: 0o755 },
  "public/index.html": { content: "<!doctype html><title>bench</title><h1>bench</h1>\n", mode: 0o644 },
  "src/server.js": { content: "import { createServer } from 'node:http';\ncreateServer((_, res) => res.end('ok')).listen(8080);\n", mode: 0o644 },
  "README.md": { content: "# bench\n\nThe rollout benchmark's app.\n", mode: 0o644 },
};

export interface BenchTag {
  /** v1, v2, ...: what the conductor is asked for. */
  tag: string;
  sha: string;
}

export interface BenchRepo {
  /** The bare repository: every agent's `mirror:`, Ansible's --git-dir, the conductor's url. */
  bare: string;
  tags: BenchTag[];
  /** Files in each tagged commit (VERSION included). */
  fileCount: number;
}

/** Builds the repository in <dir>/work and pushes it to <dir>/bench.git; VERSION holds the tag, so a release shows which tag it is. */
export async function createBenchRepo(dir: string, tagCount: number): Promise<BenchRepo> {
  const work = join(dir, "work");
  const bare = join(dir, "bench.git");
  const git = async (args: string[]) => (await execa("git", args, { cwd: work, env: gitEnv })).stdout;
  await execa("git", ["init", "--quiet", "--initial-branch=main", work], { env: gitEnv });
  await execa("git", ["init", "--quiet", "--bare", bare], { env: gitEnv });
  for (const [path, file] of Object.entries(files)) {
    const full = join(work, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, file.content);
    chmodSync(full, file.mode);
  }
  const tags: BenchTag[] = [];
  for (let i = 1; i <= tagCount; i++) {
    writeFileSync(join(work, "VERSION"), `v${i}\n`);
    await git(["add", "--all"]);
    await git(["commit", "--quiet", "-m", `release v${i}`]);
    await git(["tag", "-a", "-m", `v${i}`, `v${i}`]);
    tags.push({ tag: `v${i}`, sha: await git(["rev-parse", "HEAD"]) });
  }
  await git(["push", "--quiet", bare, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
  return { bare, tags, fileCount: Object.keys(files).length + 1 };
}
