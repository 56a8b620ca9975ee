import { existsSync } from "node:fs";
import convict from "convict";
import YAML from "yaml";
import { type ConfigSchema, type Format, type KeyDef, envName, formatDuration, parseDuration } from "./config-schema.ts";

export const defaultConfigFile = "/etc/deploykit/deploykit.yaml";

export type Sections = Record<string, ConfigSchema<Record<string, unknown>>>;
export type ConfigOf<S extends Sections> = { [K in keyof S]: S[K] extends ConfigSchema<infer C> ? C : never };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

convict.addParser({ extension: ["yaml", "yml"], parse: (text: string) => YAML.parse(text) ?? {} });
convict.addFormat({
  name: "deploykit-duration",
  validate: (value: unknown) => {
    if (parseDuration(value) === undefined) throw new Error("must be a duration like 30s, 500ms, 5m or 1h");
  },
  coerce: (value: unknown) => parseDuration(value) ?? value,
});
convict.addFormat({
  name: "deploykit-string-list",
  validate: (value: unknown) => {
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) throw new Error("must be a list of strings");
  },
  coerce: (value: unknown) =>
    typeof value === "string"
      ? value
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s.length > 0)
      : value,
});

function convictFormat(format: Format): unknown {
  if (typeof format !== "string") return format;
  switch (format) {
    case "string":
      return String;
    case "int":
      return "int";
    case "nat":
      return "nat";
    case "port":
      return "port";
    case "boolean":
      return Boolean;
    case "duration":
      return "deploykit-duration";
    case "string-list":
      return "deploykit-string-list";
    default: {
      const unreachable: never = format;
      return unreachable;
    }
  }
}

function convictSchema(sections: Sections): Record<string, Record<string, unknown>> {
  const schema: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(sections)) {
    schema[section] = {};
    for (const [key, def] of Object.entries(keys) as [string, KeyDef<unknown>][]) {
      schema[section][key] = {
        doc: def.doc,
        format: convictFormat(def.format),
        default: def.default,
        env: envName(section, key),
        sensitive: def.sensitive === true,
        nullable: def.nullable === true,
      };
    }
  }
  return schema;
}

export interface ReadConfigOptions {
  /** A file named on the command line; it must exist. */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig<S extends Sections> {
  values: ConfigOf<S>;
  /** The file that was read, if any. */
  file?: string;
  /** The effective configuration with secrets masked, as YAML. */
  describe(): string;
}

/** Which file to read: --config, then DEPLOYKIT_CONFIG, then the default path if it exists. */
export function configFile(options: ReadConfigOptions): { path?: string; required: boolean } {
  const env = options.env ?? process.env;
  if (options.file) return { path: options.file, required: true };
  if (env.DEPLOYKIT_CONFIG) return { path: env.DEPLOYKIT_CONFIG, required: true };
  return { path: existsSync(defaultConfigFile) ? defaultConfigFile : undefined, required: false };
}

/**
 * Reads every section from the file and the environment (the environment
 * wins), checks every value, and fails with one message that names each bad
 * key, the file, and how to fix it.
 */
export function readConfig<S extends Sections>(sections: S, options: ReadConfigOptions = {}): LoadedConfig<S> {
  const env = options.env ?? process.env;
  const { path, required } = configFile(options);
  const where = path ?? defaultConfigFile;
  // biome-ignore lint/suspicious/noExplicitAny: convict's schema type cannot express a schema built at run time
  const config = convict(convictSchema(sections) as any, { env, args: [] });
  if (path) {
    if (!existsSync(path)) {
      if (required) throw new ConfigError(`config file ${path} does not exist: create it, or point --config / DEPLOYKIT_CONFIG at one that does`);
    } else {
      try {
        config.loadFile(path);
      } catch (err) {
        throw new ConfigError(`config file ${path} cannot be read: ${(err as Error).message}`);
      }
    }
  }
  try {
    config.validate({ allowed: "strict" });
  } catch (err) {
    throw new ConfigError(explain((err as Error).message, sections, where));
  }
  const values = config.getProperties() as ConfigOf<S>;
  return {
    values,
    file: path && existsSync(path) ? path : undefined,
    describe: () => YAML.stringify(presentable(values as Record<string, Record<string, unknown>>, sections)),
  };
}

function explain(message: string, sections: Sections, file: string): string {
  const lines = message.split("\n").map((line) => {
    const undeclared = /configuration param '([^']+)' not declared in the schema/.exec(line);
    if (undeclared) {
      const [section] = (undeclared[1] as string).split(".");
      const known = section && sections[section] ? Object.keys(sections[section]).join(", ") : Object.keys(sections).join(", ");
      return `${undeclared[1]}: unknown key in ${file} (known here: ${known}); remove it or fix its spelling`;
    }
    const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_]+): (.*)$/.exec(line);
    if (!match) return line;
    const [, section, key, detail] = match as unknown as [string, string, string, string];
    return `${section}.${key}: ${detail.trim()}: set ${envName(section, key)} or ${section}.${key} in ${file}`;
  });
  return `invalid configuration:\n  ${lines.join("\n  ")}`;
}

/**
 * Values as an operator reads them: durations as written (30s), secrets masked,
 * and a URL with everything but its password, because which broker a daemon
 * talks to is what they need to see.
 */
export function presentable(values: Record<string, Record<string, unknown>>, sections: Sections): Record<string, Record<string, unknown>> {
  const shown: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(values)) {
    shown[section] = { ...keys };
    for (const [key, value] of Object.entries(keys)) {
      const def = sections[section]?.[key];
      if (def?.format === "duration" && typeof value === "number") shown[section][key] = formatDuration(value);
      if (!def?.sensitive || value === "" || value === null) continue;
      shown[section][key] = typeof value === "string" && value.includes("://") ? maskUrlList(value) : "********";
    }
  }
  return shown;
}

function maskUrlList(value: string): string {
  return value
    .split(",")
    .map((part) => {
      try {
        const url = new URL(part.trim());
        if (url.password) url.password = "********";
        return url.href;
      } catch {
        return "********";
      }
    })
    .join(",");
}
