import { useEffect, useState } from "preact/hooks";

// Pages live in the URL's hash (#/deploys/12), so every page has a link an
// operator can paste, and the conductor serves one index.html for all.

export interface Route {
  /** "/", "/deploy", "/deploys/12"… */
  path: string;
  /** The path's parts: ["deploys", "12"]. */
  parts: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "") || "/";
  const [path = "/", search = ""] = raw.split("?", 2);
  const normal = path.startsWith("/") ? path : `/${path}`;
  return { path: normal, parts: normal.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(search) };
}

export function href(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== "") params.set(key, String(value));
  const search = params.size > 0 ? `?${params}` : "";
  return `#${path}${search}`;
}

export function navigate(path: string, query: Record<string, string | number | undefined> = {}, replace = false): void {
  const next = href(path, query);
  if (replace) history.replaceState(null, "", next);
  else history.pushState(null, "", next);
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", update);
    window.addEventListener("popstate", update);
    return () => {
      window.removeEventListener("hashchange", update);
      window.removeEventListener("popstate", update);
    };
  }, []);
  return route;
}
