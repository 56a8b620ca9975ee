// A watched entry is a package name or a glob over names: `*` any run of
// characters, `?` one. Anything else (brackets, slashes, capitals) is refused
// at start, so an entry never means more than the operator can read in it.
const entry = /^[a-z0-9*?][a-z0-9+.*?-]*$/;

export interface PackagePatterns {
  /** The entries as configured, for dpkg-query -W (which takes the same globs). */
  readonly entries: readonly string[];
  /** Entries without wildcards: names to look up even when nothing matches them in dpkg's database. */
  readonly names: readonly string[];
  /** Entries with wildcards. */
  readonly globs: readonly string[];
  matches(name: string): boolean;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** Compiles `package-watcher.packages`; throws with the offending entry when one is not a name or glob. */
export function packagePatterns(entries: readonly string[]): PackagePatterns {
  for (const value of entries) {
    if (!entry.test(value) || value.length > 128) {
      throw new Error(`package-watcher.packages: "${value}" is not a Debian package name or glob (lowercase letters, digits, + . - and the wildcards * ?)`);
    }
  }
  const globs = entries.filter((value) => /[*?]/.test(value));
  const names = entries.filter((value) => !/[*?]/.test(value));
  const regexps = globs.map(globToRegExp);
  return {
    entries,
    names,
    globs,
    matches: (name) => names.includes(name) || regexps.some((regexp) => regexp.test(name)),
  };
}
