import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import YAML from "yaml";
import { name } from "../messages/fields.ts";

export interface AppFile {
  /** The file name without .yaml/.yml: the app's name. */
  app: string;
  file: string;
  /** The parsed YAML (an empty file is {}), for the caller's schema. */
  parsed: unknown;
}

/**
 * An apps.d directory as Puppet writes it, for the agent and the conductor
 * alike: one `<app>.yaml` (or .yml) per app, the file name being the app name.
 * A directory that does not exist holds no apps. Names that are not app names,
 * an app given twice and unreadable YAML fail with the file named.
 */
export function readAppFiles(appsDir: string, setting: string, fail: (message: string) => Error): AppFile[] {
  let files: string[];
  try {
    files = readdirSync(appsDir)
      .filter((file) => /\.ya?ml$/.test(file) && !file.startsWith("."))
      .sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fail(`${setting} ${appsDir} cannot be read: ${(err as Error).message}`);
  }
  const seen = new Set<string>();
  return files.map((entry) => {
    const file = join(appsDir, entry);
    const app = entry.replace(/\.ya?ml$/, "");
    if (!name.safeParse(app).success) throw fail(`${file}: the file name must be the app name, [a-z0-9][a-z0-9._-]*`);
    if (seen.has(app)) throw fail(`${file}: app ${app} is configured twice (${app}.yaml and ${app}.yml): keep one`);
    seen.add(app);
    try {
      return { app, file, parsed: YAML.parse(readFileSync(file, "utf8")) ?? {} };
    } catch (err) {
      throw fail(`${file} cannot be read: ${(err as Error).message}`);
    }
  });
}
