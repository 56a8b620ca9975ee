// Aligned columns for the CLI's listings, without a dependency.

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour sequences take no room on screen.
const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Columns a string takes on a terminal: ANSI sequences take none, every code point one (no East Asian wide forms in our output). */
export function visibleWidth(text: string): number {
  let width = 0;
  for (const _ of text.replace(ansi, "")) width++;
  return width;
}

export interface TableOptions {
  /** Indexes of columns aligned right (numbers, durations). */
  right?: readonly number[];
  /** Spaces between columns. */
  gap?: number;
}

/** Header and rows as lines of aligned columns; a missing or empty cell shows as "-". No trailing spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly (string | null | undefined)[])[], options: TableOptions = {}): string[] {
  const gap = " ".repeat(options.gap ?? 2);
  const right = new Set(options.right ?? []);
  const cells = [header.map((h) => h), ...rows.map((row) => header.map((_, i) => (row[i] === undefined || row[i] === null || row[i] === "" ? "-" : String(row[i]))))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => visibleWidth(row[i] ?? ""))));
  return cells.map((row) =>
    row
      .map((cell, i) => {
        const pad = " ".repeat((widths[i] ?? 0) - visibleWidth(cell));
        return right.has(i) ? pad + cell : cell + pad;
      })
      .join(gap)
      .trimEnd(),
  );
}
