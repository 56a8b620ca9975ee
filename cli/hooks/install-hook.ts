import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { runGit } from "../../shared/run-git.ts";
import { CliError } from "../cli-error.ts";

// Each hook kind: the script shipped in hooks/, and the name it takes in a repository.
export const hookKinds = {
  "git-post-receive": { script: "git/post-receive", name: "post-receive", vcs: "git" },
  "git-post-commit": { script: "git/post-commit", name: "post-commit", vcs: "git" },
  "svn-post-commit": { script: "svn/post-commit", name: "post-commit", vcs: "svn" },
} as const;

export type HookKind = keyof typeof hookKinds;

/** Where the hooks/ folder of this installation is: beside dist/ in a checkout and in the package. */
export const hooksSource = new URL("../../../hooks/", import.meta.url).pathname;

async function hooksDir(kind: HookKind, repository: string): Promise<string> {
  if (hookKinds[kind].vcs === "svn") {
    if (!existsSync(join(repository, "format")) || !existsSync(join(repository, "hooks"))) {
      throw new CliError(`${repository} is not a Subversion repository (no format file or hooks folder)`, 66);
    }
    return join(repository, "hooks");
  }
  let path: string;
  try {
    // Honours core.hooksPath, and works for bare repositories and work trees alike.
    path = await runGit(["rev-parse", "--git-path", "hooks"], { cwd: repository });
  } catch (err) {
    throw new CliError(`${repository} is not a git repository: ${(err as Error).message}`, 66);
  }
  return resolve(repository, path);
}

/**
 * Copies the hook script into the repository, executable. An existing hook
 * with other content is left alone unless `force`: it may be the server's own,
 * and the operator has to chain the two (see hooks/README.md).
 */
export async function installHook(kind: HookKind, repository: string, force = false): Promise<{ path: string; changed: boolean }> {
  const source = join(hooksSource, hookKinds[kind].script);
  const dir = await hooksDir(kind, resolve(repository));
  const path = join(dir, hookKinds[kind].name);
  const wanted = readFileSync(source);
  if (existsSync(path)) {
    if (readFileSync(path).equals(wanted)) {
      chmodSync(path, 0o755);
      return { path, changed: false };
    }
    if (!force) {
      throw new CliError(`${path} exists and is not deploykit's: call deploykit from it (see hooks/README.md), or replace it with --force`, 73);
    }
  }
  mkdirSync(dir, { recursive: true });
  copyFileSync(source, path);
  chmodSync(path, 0o755);
  return { path, changed: true };
}
