import type { Daemon } from "../../shared/daemon.ts";
import { type PackageWatcherConfig, packageWatcherConfig } from "./config.ts";

/**
 * Hears that the package repository changed (packages.updates), runs apt-get
 * update at most once per updateInterval however many uploads arrive, and
 * announces each watched package whose candidate is newer than what is
 * installed (packages.available), once per candidate version. It never
 * installs anything: Puppet (or whatever manages the host) does that.
 */
export const packageWatcher: Daemon<PackageWatcherConfig> = {
  name: "package-watcher",
  description: "notices newer candidate versions of watched Debian packages and announces them, without installing",
  config: packageWatcherConfig,
  async start(context) {
    const { startPackageWatcher } = await import("./start-package-watcher.ts");
    return startPackageWatcher(context);
  },
};
