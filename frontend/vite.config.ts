import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The web UI: built into dist/ui, which the conductor serves at /. Asset URLs
// are relative, so the UI also works behind a proxy that mounts the conductor
// under a path. Everything comes from npm and is bundled: no CDN.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
  },
});
