import { type KeyDef, describeFormat, envName, formatDuration } from "./config-schema.ts";
import type { Sections } from "./read-config.ts";

function shownDefault(def: KeyDef<unknown>): string {
  if (def.sensitive && typeof def.default === "string" && def.default !== "" && !def.default.includes("://")) return "(secret)";
  if (def.format === "duration" && typeof def.default === "number") return formatDuration(def.default);
  if (Array.isArray(def.default)) return def.default.join(", ");
  if (def.default === "" || def.default === null) return "";
  return String(def.default);
}

/** The README's table of every configuration key, generated from the schema so it cannot go stale. */
export function configTable(sections: Sections): string {
  const rows = ["| key | environment | default | format | what it does |", "| --- | --- | --- | --- | --- |"];
  for (const [section, keys] of Object.entries(sections)) {
    for (const [key, def] of Object.entries(keys) as [string, KeyDef<unknown>][]) {
      const cells = [`\`${section}.${key}\``, `\`${envName(section, key)}\``, shownDefault(def), describeFormat(def.format), def.doc];
      rows.push(`| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`);
    }
  }
  return `${rows.join("\n")}\n`;
}
