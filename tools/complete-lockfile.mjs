#!/usr/bin/env node
// The npm registry this project is built against does not serve Biome's
// binaries for other platforms, so `npm install` leaves them out of
// package-lock.json and `npm ci` then refuses the lock as out of sync. This
// adds the missing optional platform entries (never installed here: their
// os/cpu do not match) so the lock is complete. Run after changing Biome's
// version: node tools/complete-lockfile.mjs
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const packages = lock.packages;
const biome = packages["node_modules/@biomejs/biome"];
const platforms = {
  "android-arm64": ["android", "arm64"],
  "android-x64": ["android", "x64"],
  "darwin-arm64": ["darwin", "arm64"],
  "darwin-x64": ["darwin", "x64"],
  "linux-arm64": ["linux", "arm64", "glibc"],
  "linux-arm64-musl": ["linux", "arm64", "musl"],
  "linux-x64": ["linux", "x64", "glibc"],
  "linux-x64-musl": ["linux", "x64", "musl"],
  "win32-arm64": ["win32", "arm64"],
  "win32-x64": ["win32", "x64"],
};
let added = 0;
for (const [name, [os, cpu, libc]] of Object.entries(platforms)) {
  const key = `node_modules/@biomejs/cli-${name}`;
  if (packages[key]) continue;
  packages[key] = { version: biome.version, cpu: [cpu], dev: true, license: "MIT OR Apache-2.0", optional: true, os: [os], ...(libc ? { libc: [libc] } : {}) };
  added++;
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(`added ${added} platform entries for @biomejs/biome ${biome.version}\n`);
