// What Jenkins refuses in an item name (Jenkins.checkGoodName), plus control characters.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
const unsafe = /[?*/\\%!@#$^&|<>[\]:;\x00-\x1f\x7f]/;

/** A job's full name, `team/app/main`, checked segment by segment. */
export interface JobPath {
  /** The full name as Jenkins shows it: `team/app/main`. */
  name: string;
  /** The job's URL path under Jenkins' root: `/job/team/job/app/job/main`. */
  urlPath: string;
}

/** Parses a folder path; throws with the reason when a segment could not be a Jenkins item name. */
export function jobPath(name: string): JobPath {
  if (typeof name !== "string" || name.trim() === "") throw new Error("the job is empty: give its full name, such as team/app/main");
  const segments = name.split("/");
  for (const segment of segments) {
    if (segment === "") throw new Error(`"${name}" has an empty segment: write folders as team/app/main, without leading, trailing or double slashes`);
    if (segment === "." || segment === "..") throw new Error(`"${name}": "${segment}" is not a Jenkins item name`);
    if (segment !== segment.trim()) throw new Error(`"${name}": "${segment}" starts or ends with a space`);
    const bad = unsafe.exec(segment);
    if (bad) throw new Error(`"${name}": "${segment}" contains "${bad[0]}", which Jenkins does not allow in an item name`);
  }
  return { name, urlPath: segments.map((segment) => `/job/${encodeURIComponent(segment)}`).join("") };
}
