import { readFileSync } from "node:fs";

/** deploykit's version, from package.json (dist/shared/version.js sits two levels below it). */
export const version: string = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
