// What the web UI ships to a browser: every file of the built dist/ui with
// its size as served and as gzip would send it. The conductor serves the
// files uncompressed; gzip is what a reverse proxy in front of it (or a
// future compression middleware) would put on the wire, and what budgets
// for web pages are usually stated in.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";

export const gzipLevel = 9;

export type AssetKind = "js" | "css" | "html" | "other";

export interface AssetSize {
  /** Relative to dist/ui, with forward slashes. */
  file: string;
  kind: AssetKind;
  bytes: number;
  gzipBytes: number;
}

export interface AssetReport {
  dir: string;
  /** When index.html was written: which build was measured. */
  builtAt: Date;
  files: AssetSize[];
  totals: Record<AssetKind, { files: number; bytes: number; gzipBytes: number }>;
}

const kinds: Record<string, AssetKind> = { ".js": "js", ".mjs": "js", ".css": "css", ".html": "html" };

/** Measures every file under dir; fails, saying how to build it, when dist/ui is not there. */
export function assetSizes(dir: string): AssetReport {
  const index = join(dir, "index.html");
  if (!existsSync(index)) {
    throw new Error(`${index} is missing: build the web UI first with \`npm run build:ui\` (\`npm run bench:frontend\` builds everything)`);
  }
  const files = walk(dir)
    .map((path): AssetSize => {
      const content = readFileSync(path);
      return {
        file: relative(dir, path).split("\\").join("/"),
        kind: kinds[extname(path).toLowerCase()] ?? "other",
        bytes: content.byteLength,
        gzipBytes: gzipSync(content, { level: gzipLevel }).byteLength,
      };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
  const totals = { js: zero(), css: zero(), html: zero(), other: zero() };
  for (const file of files) {
    const total = totals[file.kind];
    total.files += 1;
    total.bytes += file.bytes;
    total.gzipBytes += file.gzipBytes;
  }
  if (totals.js.files === 0) throw new Error(`${dir} holds no JavaScript: is it a finished build? Run \`npm run build:ui\``);
  return { dir, builtAt: statSync(index).mtime, files, totals };
}

function zero() {
  return { files: 0, bytes: 0, gzipBytes: 0 };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.isFile() ? [path] : [];
  });
}
