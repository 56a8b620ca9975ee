import type { SystemUser } from "../../shared/lookup-user.ts";
import type { DeployStep } from "../../shared/messages/index.ts";

/** The PATH every script gets: the system's, never the agent's. */
export const scriptPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface ScriptContext {
  app: string;
  environment: string;
  action: "deploy" | "rollback";
  deployId: string;
  host: string;
  ref: string;
  sha: string;
  previousSha: string;
  release: string;
  releaseDir: string;
  previousRelease: string;
  appDir: string;
}

/**
 * The complete environment of a script: nothing is inherited from the agent.
 * The app's own variables (apps.d `environment`) come first, so they can never
 * replace a DEPLOYKIT_* value. Values are data, never interpolated into a
 * command line (see docs/deploy-agent.md for the list).
 */
export function scriptEnv(user: SystemUser, context: ScriptContext, step: DeployStep, extra: Record<string, string>): Record<string, string> {
  return {
    ...extra,
    PATH: scriptPath,
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    LANG: "C.UTF-8",
    DEPLOYKIT_APP: context.app,
    DEPLOYKIT_ENVIRONMENT: context.environment,
    DEPLOYKIT_ACTION: context.action,
    DEPLOYKIT_STEP: step,
    DEPLOYKIT_DEPLOY_ID: context.deployId,
    DEPLOYKIT_HOST: context.host,
    DEPLOYKIT_REF: context.ref,
    DEPLOYKIT_SHA: context.sha,
    DEPLOYKIT_PREVIOUS_SHA: context.previousSha,
    DEPLOYKIT_RELEASE: context.release,
    DEPLOYKIT_RELEASE_DIR: context.releaseDir,
    DEPLOYKIT_PREVIOUS_RELEASE: context.previousRelease,
    DEPLOYKIT_APP_DIR: context.appDir,
  };
}
