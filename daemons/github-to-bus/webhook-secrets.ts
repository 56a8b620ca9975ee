import { isRepoName } from "./normalize.ts";
import type { ProviderName } from "./provider.ts";

export interface SecretsConfig {
  githubSecret: string;
  gitlabToken: string;
  giteaSecret: string;
  genericToken: string;
  repoSecrets: string[];
}

/** Which config key holds each provider's secret, for messages that tell the operator what to set. */
export const secretKeys = {
  github: { key: "githubSecret", env: "DEPLOYKIT_GITHUB_TO_BUS_GITHUB_SECRET" },
  gitlab: { key: "gitlabToken", env: "DEPLOYKIT_GITHUB_TO_BUS_GITLAB_TOKEN" },
  gitea: { key: "giteaSecret", env: "DEPLOYKIT_GITHUB_TO_BUS_GITEA_SECRET" },
  generic: { key: "genericToken", env: "DEPLOYKIT_GITHUB_TO_BUS_GENERIC_TOKEN" },
} as const satisfies Record<ProviderName, { key: keyof SecretsConfig; env: string }>;

/**
 * The secret each delivery must prove it knows: the repository's own when
 * repoSecrets lists it (and then only that one), else the provider's.
 */
export class WebhookSecrets {
  private readonly byProvider: Record<ProviderName, string>;
  private readonly byRepo: Map<string, string>;

  constructor(config: SecretsConfig) {
    this.byProvider = { github: config.githubSecret, gitlab: config.gitlabToken, gitea: config.giteaSecret, generic: config.genericToken };
    this.byRepo = new Map();
    for (const entry of config.repoSecrets) {
      const at = entry.indexOf("=");
      const repo = entry.slice(0, Math.max(0, at)).trim().toLowerCase();
      const secret = entry.slice(at + 1);
      if (at < 0 || !isRepoName(repo) || secret.length === 0) {
        const shown = at < 0 ? "(no '=')" : `"${repo}=…"`;
        throw new Error(`github-to-bus.repoSecrets: entry ${shown} is not owner/name=SECRET; fix it in the config file or DEPLOYKIT_GITHUB_TO_BUS_REPO_SECRETS`);
      }
      if (this.byRepo.has(repo)) throw new Error(`github-to-bus.repoSecrets: ${repo} is listed twice; keep one secret per repository`);
      this.byRepo.set(repo, secret);
    }
  }

  /** Whether the endpoint takes anything at all: a provider secret, or some repository's own. */
  enabled(provider: ProviderName): boolean {
    return this.byProvider[provider] !== "" || this.byRepo.size > 0;
  }

  secretFor(provider: ProviderName, repo: string | undefined): string | undefined {
    const own = repo === undefined ? undefined : this.byRepo.get(repo);
    return own ?? (this.byProvider[provider] || undefined);
  }
}
