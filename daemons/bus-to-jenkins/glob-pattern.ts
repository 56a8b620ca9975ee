/**
 * A ref or repository pattern as Jenkins' Git plugin reads branch specifiers:
 * `*` matches within one path segment, `**` across segments, `?` one
 * character other than `/`; everything else is literal. So `refs/heads/*`
 * is main but not feature/x, and `refs/heads/**` is every branch.
 */
export function globPattern(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    if (char === "*" && pattern[i + 1] === "*") {
      source += ".*";
      i++;
    } else if (char === "*") {
      source += "[^/]*";
    } else if (char === "?") {
      source += "[^/]";
    } else {
      source += char.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}
