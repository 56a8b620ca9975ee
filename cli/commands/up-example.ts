import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runGit } from "../../shared/run-git.ts";

/** examples/hello in the source tree or the installed package (dist/cli/commands → the package root). */
export const exampleSource = fileURLToPath(new URL("../../../examples/hello", import.meta.url));

export interface ExampleFiles {
  repository: string;
  conductorApp: string;
  agentApp: string;
  /** What this call wrote; an existing file is never overwritten. */
  written: string[];
}

const author = {
  GIT_AUTHOR_NAME: "deploykit example",
  GIT_AUTHOR_EMAIL: "example@deploykit.invalid",
  GIT_COMMITTER_NAME: "deploykit example",
  GIT_COMMITTER_EMAIL: "example@deploykit.invalid",
};

/**
 * `deploykit up --example`: the hello app, ready to deploy on this machine. A
 * bare repository with tags v1.0.0 and v1.1.0, the conductor's app file (one
 * environment, `local`, every host) and the local agent's (releases under
 * <data-dir>/srv). Files that exist are left alone, so an operator's edits survive.
 */
export async function installExample(dataDir: string, source = exampleSource): Promise<ExampleFiles> {
  const repository = path.join(dataDir, "examples", "hello.git");
  const conductorApp = path.join(dataDir, "conductor", "apps.d", "hello.yaml");
  const agentApp = path.join(dataDir, "apps.d", "hello.yaml");
  const written: string[] = [];
  if (!existsSync(repository)) {
    await buildRepository(source, repository);
    written.push(repository);
  }
  const files: [string, string][] = [
    [
      conductorApp,
      [
        "# The conductor's side of the example app (docs/conductor.md), written by `deploykit up --example`.",
        `url: file://${repository}`,
        "description: the example app from examples/hello",
        "environments:",
        "  - name: local",
        "    target: {}",
        "    rollout: { canary: 0, batch: 100% }",
        "",
      ].join("\n"),
    ],
    [
      agentApp,
      [
        "# The host's side of the example app (docs/deploy-agent.md), written by `deploykit up --example`.",
        "strategy: release",
        `root: ${path.join(dataDir, "srv")}`,
        `mirror: ${repository}`,
        // The user running `deploykit up`: the agent runs scripts as another user only when it is root and told to.
        `user: ${userInfo().username}`,
        "keep: 5",
        "",
      ].join("\n"),
    ],
  ];
  for (const [file, text] of files) {
    if (existsSync(file)) continue;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, text, { mode: 0o644 });
    written.push(file);
  }
  return { repository, conductorApp, agentApp, written };
}

async function buildRepository(source: string, repository: string): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), "deploykit-example-"));
  try {
    cpSync(source, work, { recursive: true });
    const git = (args: string[]) => runGit(args, { cwd: work, env: author, timeoutMs: 30_000 });
    await git(["init", "--quiet", "--initial-branch=main"]);
    await git(["add", "--all"]);
    await git(["commit", "--quiet", "--message=hello 1.0.0"]);
    await git(["tag", "--annotate", "--message=hello 1.0.0", "v1.0.0"]);
    writeFileSync(path.join(work, "VERSION"), "1.1.0\n");
    await git(["commit", "--quiet", "--all", "--message=hello 1.1.0"]);
    await git(["tag", "--annotate", "--message=hello 1.1.0", "v1.1.0"]);
    mkdirSync(path.dirname(repository), { recursive: true, mode: 0o700 });
    rmSync(`${repository}.creating`, { recursive: true, force: true });
    await runGit(["clone", "--bare", "--quiet", "--end-of-options", work, `${repository}.creating`], { timeoutMs: 30_000 });
    renameSync(`${repository}.creating`, repository);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
