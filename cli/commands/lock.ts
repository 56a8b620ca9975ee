import type { CommandModule } from "yargs";
import { type ApiArgs, apiArgs, apiClient } from "../api-client.ts";
import type { LockRequest } from "../../shared/api-types.ts";
import { CliError } from "../cli-error.ts";
import { describeLock } from "../render-listings.ts";

interface LockArgs extends ApiArgs {
  app: string;
  env: string;
  reason: string;
  for?: string;
  until?: string;
}

export const lockCommand: CommandModule<object, LockArgs> = {
  command: "lock <app>",
  describe: "Lock an environment: no deploy starts there until it is unlocked or the lock expires (admin tokens only)",
  builder: (yargs) =>
    apiArgs(yargs)
      .positional("app", { type: "string", demandOption: true, describe: "the app" })
      .option("env", { alias: "e", type: "string", demandOption: true, describe: "the environment to lock" })
      .option("reason", { alias: "m", type: "string", demandOption: true, describe: "why, for whoever tries to deploy meanwhile" })
      .option("for", { type: "string", describe: "expire after this long: 30m, 2h, 1d" })
      .option("until", { type: "string", describe: "expire at this time (ISO 8601, e.g. 2026-11-22T18:00+01:00)" })
      .conflicts("for", "until")
      .example('$0 lock shop --env production --reason "black friday freeze" --until 2026-11-30T00:00Z', "freeze production until a date")
      .example('$0 lock shop --env staging --reason "load test" --for 2h', "a lock that lifts itself"),
  handler: async (args) => {
    const request = lockRequest(args);
    const body = await apiClient(args).lock(args.app, args.env, request);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(body)}\n`);
      return;
    }
    process.stdout.write(`locked ${body.lock.app} → ${body.lock.environment} ${describeLock(body.lock, {})}\n`);
  },
};

function lockRequest(args: LockArgs): LockRequest {
  const reason = args.reason.trim();
  if (!reason) throw new CliError("--reason must say why: whoever is refused a deploy reads it", 64);
  if (args.until !== undefined) {
    const at = new Date(args.until);
    if (Number.isNaN(at.getTime())) throw new CliError(`--until "${args.until}" is not a time: use ISO 8601, like 2026-11-22T18:00Z`, 64);
    return { reason, expiresAt: at.toISOString() };
  }
  if (args.for !== undefined) return { reason, expiresIn: args.for.trim() };
  return { reason };
}
