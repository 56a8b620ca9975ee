import { visibleWidth } from "./format-table.ts";

// A block of lines redrawn in place on a terminal with plain ANSI cursor
// moves. Lines are cut to the terminal's width: a wrapped line would take two
// rows and the next redraw would go up too few.

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI sequences are what this file writes.
const ansiAt = /^\x1b\[[0-9;?]*[A-Za-z]/;

/** Cuts a line to `width` visible columns, ending in "…", keeping colour sequences intact. */
export function truncateVisible(line: string, width: number): string {
  if (visibleWidth(line) <= width) return line;
  let out = "";
  let used = 0;
  let coloured = false;
  for (let i = 0; i < line.length; ) {
    const sequence = ansiAt.exec(line.slice(i))?.[0];
    if (sequence) {
      out += sequence;
      coloured = true;
      i += sequence.length;
      continue;
    }
    const char = String.fromCodePoint(line.codePointAt(i) ?? 0);
    if (used + 1 >= width) break;
    out += char;
    used++;
    i += char.length;
  }
  return `${out}…${coloured ? "\x1b[0m" : ""}`;
}

export interface FrameOutput {
  write(text: string): unknown;
  columns?: number;
  rows?: number;
}

export class LiveFrame {
  readonly #out: FrameOutput;
  #height = 0;

  constructor(out: FrameOutput) {
    this.#out = out;
  }

  /** Rows the frame may use: the terminal's, less one for the cursor's line. */
  get maxLines(): number {
    return Math.max(3, (this.#out.rows || 24) - 1);
  }

  draw(lines: readonly string[]): void {
    const width = Math.max(10, this.#out.columns || 80);
    const body = lines.map((line) => `${truncateVisible(line, width)}\x1b[K`).join("\n");
    // Up to the frame's first row, draw over it, clear whatever the old frame had below.
    const up = this.#height > 0 ? `\r\x1b[${this.#height}A` : "\x1b[?25l";
    this.#out.write(`${up}${body}\n\x1b[J`);
    this.#height = lines.length;
  }

  /** Erases the frame and gives the cursor back, so the final report is written as ordinary output. */
  close(): void {
    const up = this.#height > 0 ? `\r\x1b[${this.#height}A\x1b[J` : "";
    this.#out.write(`${up}\x1b[?25h`);
    this.#height = 0;
  }
}
