// The floor: the same steps as a plain /bin/sh script per host (as in
// bench/agent), 50 hosts at a time, without any tool around them. What is
// left of the wall time on this machine once every orchestration cost is gone.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import type { BenchTag } from "./bench-repo.ts";
import { hostDirs } from "./host-dirs.ts";

// argv only: mirror sha appDir releaseId.
const script = `#!/bin/sh
set -e
mirror="$1" sha="$2" app="$3" id="$4"
mkdir -p "$app/releases/$id"
git --git-dir="$mirror" archive --format=tar "$sha" | tar -x -C "$app/releases/$id"
cd "$app/releases/$id"
./bin/pre-link
cd "$app"
ln -sfn "releases/$id" current.tmp && mv -T current.tmp current
cd "$app/releases/$id"
./bin/post-deploy
`;

export interface ShellRun {
  wallMs: number;
  /** Sum over hosts of each script's own wall time. */
  hostSumMs: number;
}

export async function shellRollout(base: string, hosts: number, mirror: string, tag: BenchTag, label: string, parallelism: number): Promise<ShellRun> {
  const file = join(base, "shell-deploy.sh");
  writeFileSync(file, script, { mode: 0o755 });
  const id = `${label}-${tag.sha.slice(0, 12)}`;
  let next = 0;
  let hostSumMs = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < hosts; i = next++) {
      const { appDir } = hostDirs(base, "shell", i);
      mkdirSync(appDir, { recursive: true });
      const began = performance.now();
      await execa("/bin/sh", [file, mirror, tag.sha, appDir, id], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" }, extendEnv: false, stdin: "ignore" });
      hostSumMs += performance.now() - began;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, hosts) }, worker));
  return { wallMs: performance.now() - started, hostSumMs };
}
