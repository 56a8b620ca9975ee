import { defineConfig } from "../../shared/config/config-schema.ts";

export const packageWatcherConfig = defineConfig({
  packages: {
    doc: "Packages to watch: Debian package names or globs (`shop-*`, `*-web`); empty watches nothing and runs no apt command",
    format: "string-list",
    default: [] as string[],
  },
  coalesce: {
    doc: "After a packages.updates message, wait this long for more before acting, so a burst of uploads costs one check",
    format: "duration",
    default: 5_000,
  },
  updateInterval: {
    doc: "Least time between two `apt-get update` runs; a check asked for sooner waits (it is not dropped)",
    format: "duration",
    default: 60_000,
  },
  periodic: {
    doc: "Also check this often, and once at start, to catch up on uploads missed while down; 0 only reacts to messages",
    format: "duration",
    default: 3_600_000,
  },
  aptOptions: {
    doc: "apt configuration items given to apt-get and apt-cache as `-o NAME=VALUE`, e.g. `Dir::State::Lists=/var/lib/deploykit/apt/lists`",
    format: "string-list",
    default: [] as string[],
  },
  aptConfigFile: {
    doc: "An apt configuration file (APT_CONFIG) read by apt-get and apt-cache; empty: the system's",
    format: "string",
    default: "",
  },
  dpkgAdmindir: {
    doc: "dpkg's database directory, for what is installed (dpkg-query --admindir, and apt's Dir::State::status); empty: the system's",
    format: "string",
    default: "",
  },
  includeNotInstalled: {
    doc: "Also announce watched packages this host does not have (installed: null); off: only upgrades of what is installed",
    format: "boolean",
    default: false,
  },
  stateFile: {
    doc: "File remembering which candidate versions were announced, so a restart does not announce them again; empty: memory only",
    format: "string",
    default: "",
  },
  commandTimeout: {
    doc: "Kill apt-get update, apt-cache or dpkg-query after this long",
    format: "duration",
    default: 600_000,
  },
});

export type PackageWatcherConfig = {
  packages: string[];
  coalesce: number;
  updateInterval: number;
  periodic: number;
  aptOptions: string[];
  aptConfigFile: string;
  dpkgAdmindir: string;
  includeNotInstalled: boolean;
  stateFile: string;
  commandTimeout: number;
};
