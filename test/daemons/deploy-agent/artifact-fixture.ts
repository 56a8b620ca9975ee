import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { ExecutionContext } from "ava";
import * as tar from "tar";

export const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

/** A temp root holding `dest` (empty), `tmp` (for the download) and `outside` (must stay untouched). */
export function layout(t: ExecutionContext): { root: string; dest: string; tmp: string; outside: string } {
  const root = mkdtempSync(join(tmpdir(), "deploykit-artifact-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dirs = { root, dest: join(root, "dest"), tmp: join(root, "tmp"), outside: join(root, "outside") };
  for (const dir of [dirs.dest, dirs.tmp, dirs.outside]) mkdirSync(dir);
  return dirs;
}

/** Every path under `dir`, relative, sorted; symlinks are listed, not followed (readdir's `recursive` would). */
export function tree(dir: string, prefix = ""): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${entry.name}` : entry.name;
    names.push(name);
    if (entry.isDirectory()) names.push(...tree(dir, name));
  }
  return names.sort();
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A real HTTP server on 127.0.0.1; `requests` records what it was asked. */
export async function serve(t: ExecutionContext, handler: Handler): Promise<{ base: string; requests: http.IncomingMessage[] }> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** Serves one body at every path, with a Content-Length. */
export function sendBody(body: Buffer): Handler {
  return (_req, res) => {
    res.writeHead(200, { "content-type": "application/gzip", "content-length": body.length });
    res.end(body);
  };
}

/** A tar.gz of the real files in `dir`, made by node-tar as a build would. */
export async function tarGzOf(dir: string, out: string): Promise<Buffer> {
  await tar.c({ gzip: true, file: out, cwd: dir }, readdirSync(dir).sort());
  return readFileSync(out);
}

export interface RawEntry {
  name: string;
  /** ustar type flag: "0" file, "1" hard link, "2" symlink, "3" char device, "5" directory, "6" FIFO. */
  type?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  body?: string;
  linkname?: string;
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length, "ascii");
}

/**
 * A tar.gz written header by header, so an archive can hold what no honest
 * tool would write (`..`, absolute names, links out, devices).
 */
export function rawTarGz(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? "");
    const header = Buffer.alloc(512);
    header.write(entry.name, 0, 100, "utf8");
    octal(header, 100, 8, entry.mode ?? 0o644);
    octal(header, 108, 8, entry.uid ?? 0);
    octal(header, 116, 8, entry.gid ?? 0);
    octal(header, 124, 12, body.length);
    octal(header, 136, 12, Math.floor(Date.now() / 1000));
    header.fill(" ", 148, 156);
    header.write(entry.type ?? "0", 156, 1, "ascii");
    header.write(entry.linkname ?? "", 157, 100, "utf8");
    header.write("ustar\u000000", 257, 8, "ascii");
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
