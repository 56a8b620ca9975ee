import { defineConfig } from "../../shared/config/config-schema.ts";

export const githubToBusConfig = defineConfig({
  host: { doc: "Address the webhook listener binds to (put a TLS reverse proxy in front of it)", format: "string", default: "127.0.0.1" },
  port: { doc: "Port of the webhook listener, which also serves /metrics and /healthz (0 picks a free one)", format: "port", default: 9680 },
  githubSecret: {
    doc: "Secret of GitHub webhooks (X-Hub-Signature-256); empty: /webhooks/github takes only repositories listed in repoSecrets",
    format: "string",
    default: "",
    sensitive: true,
  },
  gitlabToken: {
    doc: "Secret token of GitLab webhooks (X-Gitlab-Token); empty: /webhooks/gitlab takes only repositories listed in repoSecrets",
    format: "string",
    default: "",
    sensitive: true,
  },
  giteaSecret: {
    doc: "Secret of Gitea and Forgejo webhooks (X-Gitea-Signature); empty: /webhooks/gitea takes only repositories listed in repoSecrets",
    format: "string",
    default: "",
    sensitive: true,
  },
  genericToken: {
    doc: "Bearer token for /webhooks/generic (Authorization: Bearer TOKEN); empty: it takes only repositories listed in repoSecrets",
    format: "string",
    default: "",
    sensitive: true,
  },
  repoSecrets: {
    doc: "Per-repository secrets as owner/name=SECRET; a repository listed here is verified with its own secret only, whatever the provider",
    format: "string-list",
    default: [] as string[],
    sensitive: true,
  },
  repos: {
    doc: "Repositories (owner/name) whose pushes are published; others get 403. Empty: every repository whose delivery verifies",
    format: "string-list",
    default: [] as string[],
  },
  maxBodySize: { doc: "Largest webhook body in bytes; a bigger one gets 413 (GitHub caps payloads at 25 MB)", format: "nat", default: 25 * 1024 * 1024 },
  maxCommits: { doc: "Most commits carried in one git.commits message (the newest are kept, and the message says commitsTruncated)", format: "nat", default: 100 },
  publishTimeout: {
    doc: "How long a delivery waits for the broker to confirm its message before it is answered 503 (keep it under the sender's own timeout, 10s on GitHub)",
    format: "duration",
    default: 5_000,
  },
  retryAfter: { doc: "Retry-After sent with a 503 when the bus is down", format: "duration", default: 30_000 },
  dedupEntries: { doc: "Delivery ids remembered to answer repeats without publishing again", format: "nat", default: 10_000 },
  dedupTtl: { doc: "How long a delivery id is remembered", format: "duration", default: 86_400_000 },
});

export type GithubToBusConfig = {
  host: string;
  port: number;
  githubSecret: string;
  gitlabToken: string;
  giteaSecret: string;
  genericToken: string;
  repoSecrets: string[];
  repos: string[];
  maxBodySize: number;
  maxCommits: number;
  publishTimeout: number;
  retryAfter: number;
  dedupEntries: number;
  dedupTtl: number;
};
