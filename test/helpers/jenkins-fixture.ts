import { readFileSync } from "node:fs";

const dir = new URL("../../../test/fixtures/jenkins/", import.meta.url);

/** A saved Jenkins payload from test/fixtures/jenkins/ (see its README), parsed afresh on every call so tests may change it. */
export function jenkinsFixture(name: string): Record<string, unknown> & { build: Record<string, unknown> } {
  return JSON.parse(readFileSync(new URL(`${name}.json`, dir), "utf8")) as Record<string, unknown> & { build: Record<string, unknown> };
}
