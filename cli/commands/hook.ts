import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { makeEnvelope } from "../../shared/bus/envelope-codec.ts";
import { parseDuration } from "../../shared/config/config-schema.ts";
import type { AllConfig } from "../../shared/run-daemon.ts";
import { runGit } from "../../shared/run-git.ts";
import { type Outgoing, publishOrSpool } from "../../shared/spool/publish-or-spool.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";
import { cliSpool, oneLine, spoolOption, spoolReport } from "../cli-spool.ts";
import { type GitCommitsBody, type PushContext, type RefUpdate, gitPushBody } from "../hooks/git-push-body.ts";
import { gitRepo, pusherFromEnv } from "../hooks/git-repo.ts";
import { type HookKind, hookKinds, installHook } from "../hooks/install-hook.ts";
import { parseRefUpdates } from "../hooks/parse-ref-updates.ts";
import { postCommitUpdate } from "../hooks/post-commit-update.ts";
import { repoName } from "../hooks/repo-name.ts";
import { svnCommitBodies } from "../hooks/svn-commit-bodies.ts";

interface HookArgs extends BusArgs {
  spool?: string | boolean;
  timeout?: string;
  repo?: string;
}

interface SvnArgs extends HookArgs {
  repos: string;
  rev: string;
}

interface InstallArgs extends BusArgs {
  kind: HookKind;
  repository: string;
  force?: boolean;
}

function timeoutOf(args: HookArgs, values: AllConfig): number {
  if (args.timeout === undefined) return values.hooks.publishTimeout;
  const ms = parseDuration(args.timeout);
  if (ms === undefined) throw new CliError(`--timeout ${args.timeout} is not a duration: write it like 5s or 500ms`, 64);
  return ms;
}

/**
 * Publishes the bodies (spooling them when the bus is unavailable) and prints
 * every warning as one line: a hook's stderr goes to the person pushing.
 */
async function send(args: HookArgs, values: AllConfig, component: string, bodies: GitCommitsBody[], warnings: string[]): Promise<void> {
  const parts = [...warnings];
  const timeoutMs = timeoutOf(args, values);
  const spool = cliSpool(args.spool, values);
  if (bodies.length > 0) {
    const { cliBus } = await import("../cli-bus.ts");
    const bus = cliBus(args, component, { values, quiet: true });
    try {
      const messages: Outgoing[] = [];
      for (const body of bodies) {
        try {
          messages.push({ topic: "git.commits", envelope: makeEnvelope("git.commits", body, bus.source) });
        } catch (err) {
          parts.push(`skipped ${body.ref}: ${(err as Error).message}`);
        }
      }
      const result = await publishOrSpool(bus, messages, { timeoutMs, spool });
      parts.push(...spoolReport(result, spool));
      if (result.failed.length > 0) process.exitCode = 69;
    } finally {
      await bus.close({ graceMs: 0 });
    }
  }
  if (parts.length > 0) process.stderr.write(`deploykit: warning: ${oneLine(parts)}\n`);
}

async function bodiesFor(updates: RefUpdate[], context: PushContext, warnings: string[]): Promise<GitCommitsBody[]> {
  const bodies: GitCommitsBody[] = [];
  for (const update of updates) {
    try {
      bodies.push(await gitPushBody(update, context));
    } catch (err) {
      warnings.push(`skipped ${update.ref}: ${(err as Error).message}`);
    }
  }
  return bodies;
}

async function gitContext(args: HookArgs, values: AllConfig, pusher: GitCommitsBody["pusher"]): Promise<PushContext> {
  const cwd = process.cwd();
  let refs: Promise<Map<string, string>> | undefined;
  return {
    cwd,
    repo: await gitRepo(cwd, values.hooks.repoRoots, args.repo),
    pusher,
    provider: "git-hook",
    maxCommits: Math.max(1, values.hooks.maxCommits),
    allRefs: () =>
      (refs ??= runGit(["for-each-ref", "--format=%(refname) %(objectname)"], { cwd }).then(
        (output) => new Map(output.split("\n").filter(Boolean).map((line) => line.split(" ") as [string, string])),
      )),
  };
}

async function postReceive(args: HookArgs): Promise<void> {
  const { cliConfig } = await import("../cli-bus.ts");
  const values = cliConfig(args);
  const { updates, warnings } = parseRefUpdates(readFileSync(0, "utf8"));
  const context = await gitContext(args, values, pusherFromEnv(process.env));
  await send(args, values, "git-hook", await bodiesFor(updates, context, warnings), warnings);
}

async function postCommit(args: HookArgs): Promise<void> {
  const { cliConfig } = await import("../cli-bus.ts");
  const values = cliConfig(args);
  const found = await postCommitUpdate(process.cwd());
  if ("warning" in found) return send(args, values, "git-hook", [], [found.warning]);
  const warnings: string[] = [];
  const context = await gitContext(args, values, found.pusher);
  await send(args, values, "git-hook", await bodiesFor([found.update], context, warnings), warnings);
}

async function svnPostCommit(args: SvnArgs): Promise<void> {
  if (!/^[0-9]+$/.test(args.rev)) throw new CliError(`revision "${args.rev}" is not a revision number`, 64);
  const { cliConfig } = await import("../cli-bus.ts");
  const values = cliConfig(args);
  const repos = resolve(args.repos);
  const repo = { name: repoName(repos, values.hooks.repoRoots, args.repo), urls: [] };
  const { bodies, warnings } = await svnCommitBodies({ repos, rev: args.rev, repo });
  await send(args, values, "svn-hook", bodies, warnings);
}

const hookOptions = <T>(yargs: Argv<T>) =>
  yargs
    .option("spool", spoolOption)
    .option("timeout", { type: "string", describe: "how long to wait for the bus before spooling (default hooks.publishTimeout)" })
    .option("repo", { type: "string", describe: "the repository's name in messages (default: git config deploykit.repo, else its path below hooks.repoRoots)" });

export const hookCommand: CommandModule<BusArgs, BusArgs> = {
  command: "hook <kind>",
  describe: "Run as a git or svn hook (hooks/ calls these): publish git.commits, spool when the bus is down",
  builder: (yargs) =>
    yargs
      .command("git-post-receive", "Server side: one message per ref read from stdin (old new ref)", hookOptions, (args) => postReceive(args as HookArgs))
      .command("git-post-commit", "In a work tree: one message for the commit just made", hookOptions, (args) => postCommit(args as HookArgs))
      .command(
        "svn-post-commit <repos> <rev>",
        "One message per branch or tag the revision touched (svnlook)",
        (y) =>
          hookOptions(y)
            .positional("repos", { type: "string", demandOption: true, describe: "the repository path svn passes" })
            .positional("rev", { type: "string", demandOption: true, describe: "the revision svn passes" }),
        (args) => svnPostCommit(args as unknown as SvnArgs),
      )
      .command(
        "install <kind> <repository>",
        "Copy a hook script into a repository",
        (y) =>
          y
            .positional("kind", { type: "string", choices: Object.keys(hookKinds), demandOption: true })
            .positional("repository", { type: "string", demandOption: true, describe: "a bare repository, a work tree, or an svn repository" })
            .option("force", { type: "boolean", describe: "replace a hook that is not deploykit's" })
            .example("$0 hook install git-post-receive /srv/git/shop.git", "report every push to that repository"),
        async (args) => {
          const { kind, repository, force } = args as unknown as InstallArgs;
          const installed = await installHook(kind, repository, force);
          process.stdout.write(`${installed.path}\n`);
          process.stderr.write(installed.changed ? `installed the ${kind} hook\n` : `the ${kind} hook was already installed\n`);
        },
      )
      .demandCommand(1, "say which hook: deploykit hook --help")
      .epilogue("A hook exits 0 when the bus is down: its messages are spooled (spool.dir) and one warning line says so."),
  handler: () => {},
};
