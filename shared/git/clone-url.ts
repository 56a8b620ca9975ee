const allowedSchemes = new Set(["https:", "http:", "ssh:", "git:", "file:"]);

// git reads `[user@]host:path` as scp-like ssh when no slash comes before the
// first colon. User and host may not start with '-' (ssh would take them as options).
const scpLike = /^(?:([A-Za-z0-9_][A-Za-z0-9._~+-]*)@)?([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):([^/].*|\/.*)$/;

const allowedForms = "use https://, http://, ssh://, git://, file://, user@host:path, or an absolute path";

/**
 * Why a configured clone URL is refused, or undefined when git may be given it.
 * Only the transports a mirror needs are allowed: no `ext::` or other
 * transport helpers, nothing git or ssh could read as an option.
 */
export function cloneUrlProblem(url: string): string | undefined {
  if (url.length === 0) return "is empty";
  if (url.length > 2048) return "is longer than 2048 characters";
  if (url.startsWith("-")) return "starts with '-', so git would read it as an option";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\x00-\x20\x7f]/.test(url)) return "contains a space or a control character";
  if (url.includes("::")) return "names a transport helper (transport::address), which is refused";
  if (url.startsWith("/")) return undefined;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "is not a valid URL";
    }
    if (!allowedSchemes.has(parsed.protocol)) return `uses ${parsed.protocol}//, which is not allowed: ${allowedForms}`;
    if (parsed.protocol === "file:") return parsed.hostname === "" ? undefined : "is a file:// URL with a host; use file:///absolute/path";
    if (parsed.hostname === "") return "has no host";
    if (parsed.hostname.startsWith("-") || parsed.username.startsWith("-")) return "has a user or host starting with '-'";
    return undefined;
  }
  const scp = scpLike.exec(url);
  if (scp && !(scp[3] as string).startsWith("-")) return undefined;
  return `is not a clone URL: ${allowedForms}`;
}

/**
 * One key for every way of writing the same repository's URL, so a message
 * carrying the https URL matches an entry configured with the ssh one:
 * host and path, lowercased, without user, port, trailing slash or `.git`.
 */
export function cloneUrlKey(url: string): string | undefined {
  const trim = (path: string) =>
    path
      .toLowerCase()
      .replace(/\/+$/, "")
      .replace(/\.git$/, "")
      .replace(/^\/+/, "");
  if (url.startsWith("/")) return `file/${trim(url)}`;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) {
    try {
      const parsed = new URL(url);
      if (parsed.protocol === "file:") return `file/${trim(decodeURIComponent(parsed.pathname))}`;
      return `${parsed.hostname.toLowerCase()}/${trim(decodeURIComponent(parsed.pathname))}`;
    } catch {
      return undefined;
    }
  }
  const scp = scpLike.exec(url);
  if (scp) return `${(scp[2] as string).toLowerCase()}/${trim(scp[3] as string)}`;
  return undefined;
}

/** The URL with any password masked, for logs. */
export function maskedUrl(url: string): string {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) return url;
  try {
    const parsed = new URL(url);
    if (parsed.password === "") return url;
    parsed.password = "********";
    return parsed.href;
  } catch {
    return url;
  }
}
