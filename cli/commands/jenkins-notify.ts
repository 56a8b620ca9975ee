import type { CommandModule } from "yargs";
import { BuildInputError } from "../../daemons/jenkins-status/jenkins-build.ts";
import { type StepPhase, fromEnvironment, parseArtifact, stepPhases } from "../../daemons/jenkins-status/from-environment.ts";
import type { BusArgs } from "../cli-bus.ts";
import { CliError } from "../cli-error.ts";

interface JenkinsNotifyArgs extends BusArgs {
  phase: string;
  artifact?: string[];
  timeout: number;
}

/** Rejects after ms: the step must end even if the broker neither answers nor hangs up. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export const jenkinsNotifyCommand: CommandModule<BusArgs, JenkinsNotifyArgs> = {
  command: "jenkins-notify",
  describe: "From a Jenkins build step: publish this build's status as builds.v1 (reads JOB_NAME, BUILD_NUMBER, GIT_COMMIT, ...)",
  builder: (yargs) =>
    yargs
      .option("phase", { type: "string", choices: stepPhases, demandOption: true, describe: "what happened to the build" })
      .option("artifact", { type: "string", array: true, describe: "NAME=URL of something the build made (repeatable)" })
      .option("timeout", { type: "number", default: 10_000, describe: "milliseconds to wait for the broker before failing" })
      .example("$0 jenkins-notify --phase started", "first shell step of a job")
      .example("$0 jenkins-notify --phase succeeded --artifact \"app.tar.gz=$BUILD_URL\"artifact/app.tar.gz", "last step, once the build is green"),
  handler: async (args) => {
    let build: ReturnType<typeof fromEnvironment>;
    try {
      const artifacts = (args.artifact ?? []).map(parseArtifact);
      build = fromEnvironment(process.env, args.phase as StepPhase, artifacts);
    } catch (err) {
      if (err instanceof BuildInputError) throw new CliError(`jenkins-notify: ${err.message}`, 65);
      throw err;
    }
    for (const warning of build.warnings) process.stderr.write(`jenkins-notify: ${warning}\n`);
    const { cliBus } = await import("../cli-bus.ts");
    const bus = cliBus(args, "jenkins-notify");
    try {
      const envelope = await within(
        bus.publish("builds", build.body, { correlationId: build.correlationId, confirm: true, timeoutMs: args.timeout }),
        args.timeout + 2_000,
        "publishing",
      );
      process.stdout.write(`${envelope.id}\n`);
    } catch (err) {
      throw new CliError(`jenkins-notify: could not publish ${build.body.phase} for ${build.body.job} #${build.body.number}: ${(err as Error).message}`, 69);
    } finally {
      await within(bus.close({ graceMs: 0 }), 2_000, "closing the bus connection").catch(() => {});
    }
  },
};
