import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { execa } from "execa";

// A real apt repository and a real (if tiny) dpkg database under one
// temporary directory, and the apt configuration that makes apt-get and
// apt-cache use only them: the machine's sources, lists, caches and
// apt.conf.d are never read or written.

export interface AptFixture {
  root: string;
  /** What package-watcher.aptOptions gets. */
  aptOptions: string[];
  /** What package-watcher.aptConfigFile gets: it keeps the machine's apt.conf.d (and its hooks) out. */
  aptConfigFile: string;
  /** What package-watcher.dpkgAdmindir gets. */
  dpkgAdmindir: string;
  /** Builds a package with dpkg-deb into the fixture's flat repository (without indexing it); returns its path. */
  buildDeb(name: string, version: string): Promise<string>;
  /** Replaces apt's sources list (by default the fixture's flat repository). */
  setSources(lines: readonly string[]): void;
  /** Builds each package with dpkg-deb into the repository and rewrites its Packages index. */
  publish(packages: readonly { name: string; version: string }[]): Promise<void>;
  /** Writes dpkg's status file: these packages installed at these versions (nothing is unpacked). */
  setInstalled(packages: readonly { name: string; version: string }[]): void;
  /** apt-get and apt-cache argv options, for a test that runs them itself. */
  aptArgs(): string[];
  remove(): void;
}

let scanPackages: boolean | undefined;

async function hasScanPackages(): Promise<boolean> {
  scanPackages ??= (await execa("dpkg-scanpackages", ["--version"], { reject: false })).exitCode === 0;
  return scanPackages;
}

function control(name: string, version: string): string {
  return [`Package: ${name}`, `Version: ${version}`, "Section: misc", "Priority: optional", "Architecture: all", "Maintainer: deploykit tests <tests@example.invalid>", `Description: ${name} built by a deploykit test`, ""].join("\n");
}

// The fields apt needs, for a machine without dpkg-dev.
function packagesIndex(repo: string): string {
  const stanzas: string[] = [];
  for (const file of readdirSync(repo).filter((f) => f.endsWith(".deb")).sort()) {
    const [name, version] = file.split("_") as [string, string];
    const data = readFileSync(path.join(repo, file));
    stanzas.push(
      `${control(name, version).trimEnd()}\nFilename: ./${file}\nSize: ${statSync(path.join(repo, file)).size}\nSHA256: ${createHash("sha256").update(data).digest("hex")}\n`,
    );
  }
  return stanzas.join("\n");
}

/** index: "builtin" writes the Packages file here even where dpkg-scanpackages exists, so that path is tested too. */
export function aptFixture(options: { index?: "auto" | "builtin" } = {}): AptFixture {
  const root = mkdtempSync(path.join(tmpdir(), "dk-apt-"));
  const dir = (...parts: string[]) => {
    const full = path.join(root, ...parts);
    mkdirSync(full, { recursive: true });
    return full;
  };
  const repo = dir("repo");
  const state = dir("apt", "state", "lists", "partial");
  dir("apt", "cache", "archives", "partial");
  const empty = dir("apt", "empty.d");
  const admindir = dir("dpkg");
  for (const sub of ["updates", "info", "triggers"]) dir("dpkg", sub);
  writeFileSync(path.join(admindir, "available"), "");
  const aptConfigFile = path.join(root, "apt", "apt.conf");
  writeFileSync(aptConfigFile, `Dir::Etc::parts "${empty}";\nDir::Etc::main "/dev/null";\n`);
  const aptOptions = [
    `Dir::State=${path.dirname(path.dirname(state))}`,
    `Dir::Cache=${path.join(root, "apt", "cache")}`,
    `Dir::Etc::sourcelist=${path.join(root, "apt", "sources.list")}`,
    `Dir::Etc::sourceparts=${empty}`,
    `Dir::Etc::preferences=/dev/null`,
    `Dir::Etc::preferencesparts=${empty}`,
    "Debug::NoLocking=1",
    // As root, apt downloads as _apt, who cannot read a private temporary directory.
    "APT::Sandbox::User=root",
    "Acquire::Languages=none",
  ];
  const fixture: AptFixture = {
    root,
    aptOptions,
    aptConfigFile,
    dpkgAdmindir: admindir,
    async buildDeb(name, version) {
      const staging = mkdtempSync(path.join(root, "staging-"));
      mkdirSync(path.join(staging, "DEBIAN"));
      writeFileSync(path.join(staging, "DEBIAN", "control"), control(name, version));
      const deb = path.join(repo, `${name}_${version}_all.deb`);
      await execa("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", staging, deb]);
      rmSync(staging, { recursive: true });
      return deb;
    },
    setSources(lines) {
      writeFileSync(path.join(root, "apt", "sources.list"), lines.map((line) => `${line}\n`).join(""));
    },
    async publish(packages) {
      for (const { name, version } of packages) await fixture.buildDeb(name, version);
      const index = options.index !== "builtin" && (await hasScanPackages())
        ? String((await execa("dpkg-scanpackages", ["--multiversion", ".", "/dev/null"], { cwd: repo, stderr: "ignore" })).stdout)
        : packagesIndex(repo);
      // Only the compressed index: apt then copies it into its lists, as from
      // a server, instead of linking a plain file: Packages in place (which
      // would show a new version without apt-get update).
      writeFileSync(path.join(repo, "Packages.gz"), gzipSync(`${index.trimEnd()}\n`));
    },
    setInstalled(packages) {
      const stanzas = packages.map(({ name, version }) => `${control(name, version).replace(/\n/, "\nStatus: install ok installed\n")}`);
      writeFileSync(path.join(admindir, "status"), stanzas.join("\n"));
    },
    aptArgs: () => {
      const args: string[] = [];
      for (const item of [...aptOptions, `Dir::State::status=${path.join(admindir, "status")}`]) args.push("-o", item);
      return args;
    },
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
  fixture.setInstalled([]);
  fixture.setSources([`deb [trusted=yes] file:${repo} ./`]);
  return fixture;
}
