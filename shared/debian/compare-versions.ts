// Debian version comparison exactly as dpkg does it (lib/dpkg/version.c):
// [epoch:]upstream[-revision]; epochs compare as numbers, then upstream and
// revision with verrevcmp, where `~` sorts before everything, even the end.

// An optional epoch, then an upstream part starting with a digit; colons only
// with an epoch. dpkg refuses, or warns about, anything else.
const version = /^(?:[0-9]{1,9}:[0-9][0-9A-Za-z.+~:-]*|[0-9][0-9A-Za-z.+~-]*)$/;

/** True for a version dpkg accepts without complaint (and nothing longer than 128 characters). */
export function isDebianVersion(value: string): boolean {
  // A trailing dash is an empty revision, which dpkg refuses.
  return value.length <= 128 && version.test(value) && !value.endsWith("-");
}

interface Parsed {
  epoch: number;
  upstream: string;
  revision: string;
}

function parse(value: string): Parsed {
  const colon = value.indexOf(":");
  const epoch = colon === -1 ? 0 : Number.parseInt(value.slice(0, colon), 10) || 0;
  const rest = colon === -1 ? value : value.slice(colon + 1);
  const hyphen = rest.lastIndexOf("-");
  return hyphen === -1 ? { epoch, upstream: rest, revision: "" } : { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) };
}

const isDigit = (c: string) => c >= "0" && c <= "9";
const isAlpha = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");

// The weight of one character outside a run of digits; "" is the end of the string.
function order(c: string): number {
  if (c === "" || isDigit(c)) return 0;
  if (isAlpha(c)) return c.charCodeAt(0);
  if (c === "~") return -1;
  return c.charCodeAt(0) + 256;
}

function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  const at = (s: string, k: number) => (k < s.length ? (s[k] as string) : "");
  while (i < a.length || j < b.length) {
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const ac = order(at(a, i));
      const bc = order(at(b, j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (at(a, i) === "0") i++;
    while (at(b, j) === "0") j++;
    let firstDiff = 0;
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i).charCodeAt(0) - at(b, j).charCodeAt(0);
      i++;
      j++;
    }
    if (isDigit(at(a, i))) return 1;
    if (isDigit(at(b, j))) return -1;
    if (firstDiff !== 0) return firstDiff;
  }
  return 0;
}

/** Negative when a is older than b, 0 when dpkg holds them equal, positive when a is newer. */
export function compareDebianVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  if (pa.epoch !== pb.epoch) return pa.epoch - pb.epoch;
  return verrevcmp(pa.upstream, pb.upstream) || verrevcmp(pa.revision, pb.revision);
}
