import { defineConfig } from "../../shared/config/config-schema.ts";

export const repoFetcherConfig = defineConfig({
  reposFile: {
    doc: "The repositories this host carries: a YAML file, or a directory whose *.yaml and *.yml files are all read (see docs/repo-fetcher.md)",
    format: "string",
    default: "/etc/deploykit/repos.d",
  },
  mirrorDir: {
    doc: "Where mirrors live when an entry gives no path: <mirrorDir>/<name>.git (empty: /var/lib/deploykit/mirrors)",
    format: "string",
    default: "",
  },
  interval: {
    doc: "Fetch every repository this often, to catch what was missed while the daemon or the bus was down (0: never)",
    format: "duration",
    default: 600_000,
  },
  fetchTimeout: { doc: "Kill a git fetch (or the clone of a new mirror) that runs longer than this", format: "duration", default: 300_000 },
  concurrency: { doc: "Repositories fetched at the same time (one fetch per repository at a time, always)", format: "nat", default: 4 },
});

export type RepoFetcherConfig = { reposFile: string; mirrorDir: string; interval: number; fetchTimeout: number; concurrency: number };
