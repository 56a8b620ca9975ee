import { join } from "node:path";
import express, { type Response, Router } from "express";

/** Where `npm run build` puts the web UI: dist/ui, next to this file's dist/daemons. */
export const builtUiDir = join(import.meta.dirname, "../../../ui");

// The UI loads only its own files and talks only to this origin; it is never framed.
const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

function securityHeaders(response: Response): void {
  response.setHeader("Content-Security-Policy", contentSecurityPolicy);
  response.setHeader("X-Content-Type-Options", "nosniff");
  response.setHeader("Referrer-Policy", "no-referrer");
  response.setHeader("X-Frame-Options", "DENY");
}

/**
 * The web UI at /: static files from `dir`. Vite names the assets it builds
 * by content hash, so they are cached for good; index.html is revalidated,
 * so a new build is picked up at the next load. The UI routes by the URL's
 * hash, so no path needs rewriting to index.html.
 */
export function uiRoutes(dir: string): Router {
  const router = Router();
  const index = join(dir, "index.html");
  router.use((_request, response, next) => {
    securityHeaders(response);
    next();
  });
  router.use(
    express.static(dir, {
      index: "index.html",
      redirect: false,
      setHeaders(response, path) {
        response.setHeader("Cache-Control", path.includes(`${join(dir, "assets")}/`) ? "public, max-age=31536000, immutable" : "no-cache");
      },
    }),
  );
  // express.static answers / with index.html when there is one (checked per request, so a build made after
  // the conductor started is served without a restart); without one, say how to make it.
  router.get("/", (_request, response) => {
    response
      .status(503)
      .type("text/plain")
      .send(`The web UI is not built here (no ${index}). Run "npm run build" in deploykit's checkout, or set conductor.uiDir.\nThe REST API is at /api/v1.\n`);
  });
  return router;
}
