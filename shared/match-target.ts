import type { z } from "zod";
import type { targetFilter } from "./messages/types.ts";

export type TargetFilter = z.infer<typeof targetFilter>;

export interface TargetHost {
  identity: string;
  facts: Record<string, unknown>;
  classes: string[];
}

export interface TargetMatch {
  matches: boolean;
  /** The host's identity is listed literally (not through a regex): the request meant this host. */
  named: boolean;
  /** A short explanation for the log: the first criterion that failed, or what matched. */
  why: string;
}

/**
 * MCollective's filter semantics: every criterion given must hold. An identity
 * or fact value written `/…/` is a regular expression, unanchored unless its
 * author anchors it; an invalid one matches nothing. Fact keys reach nested
 * facts with dots (`os.release.major`), and values are compared as strings.
 * An empty identity list names no host, so it matches none: a filter that
 * lost its list must not turn into "every host".
 */
export function matchTarget(filter: TargetFilter, host: TargetHost): TargetMatch {
  const identities = filter.identities;
  const named = identities?.includes(host.identity) ?? false;
  const matched: string[] = [];

  if (identities !== undefined) {
    if (identities.length === 0) return { matches: false, named, why: "the identity list is empty" };
    const hit = named || identities.some((entry) => isRegex(entry) && testRegex(entry, host.identity));
    if (!hit) return { matches: false, named, why: `identity ${host.identity} is not listed` };
    matched.push("identity");
  }

  for (const [key, expected] of Object.entries(filter.facts ?? {})) {
    const problem = factProblem(host.facts, key, expected);
    if (problem !== undefined) return { matches: false, named, why: problem };
    matched.push(`fact ${key}=${shorten(expected)}`);
  }

  for (const name of filter.classes ?? []) {
    if (!host.classes.includes(name)) return { matches: false, named, why: `class ${shorten(name)} is missing` };
    matched.push(`class ${shorten(name)}`);
  }

  return { matches: true, named, why: matched.length === 0 ? "an empty filter matches every host" : `matches ${matched.join(", ")}` };
}

function factProblem(facts: Record<string, unknown>, key: string, expected: string): string | undefined {
  const actual = lookup(facts, key.split("."));
  if (actual === undefined || actual === null) return `fact ${key} is not set`;
  if (typeof actual === "object") return `fact ${key} is a structure, not a value`;
  const text = String(actual);
  if (isRegex(expected)) {
    if (compile(expected) === undefined) return `fact ${key}: ${shorten(expected)} is not a valid regular expression`;
    return testRegex(expected, text) ? undefined : `fact ${key} is ${shorten(text)}, not matching ${shorten(expected)}`;
  }
  return text === expected ? undefined : `fact ${key} is ${shorten(text)}, not ${shorten(expected)}`;
}

// Fact names may contain dots themselves, so at each level the longest run of parts that
// names an own key wins, falling back to shorter ones (`a.b.c` finds {"a.b": {c}} and {a: {b: {c}}}).
function lookup(value: unknown, parts: string[]): unknown {
  if (parts.length === 0) return value;
  if (typeof value !== "object" || value === null) return undefined;
  for (let take = parts.length; take >= 1; take--) {
    const key = parts.slice(0, take).join(".");
    if (!Object.hasOwn(value, key)) continue;
    const found = lookup((value as Record<string, unknown>)[key], parts.slice(take));
    if (found !== undefined) return found;
  }
  return undefined;
}

function isRegex(text: string): boolean {
  return text.length >= 2 && text.startsWith("/") && text.endsWith("/");
}

function compile(text: string): RegExp | undefined {
  try {
    return new RegExp(text.slice(1, -1));
  } catch {
    return undefined;
  }
}

function testRegex(pattern: string, text: string): boolean {
  return compile(pattern)?.test(text) ?? false;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
