/** Progress of a benchmark run on stderr: a bar redrawn in place on a terminal, plain lines
 * otherwise (CI, pipes), so logs keep every message. */

/** How far the run is, when the scenario knows its number of steps. */
export interface Fraction {
  done: number;
  total: number;
}

/** What scenarios call; the fraction is optional (some cannot count their steps). */
export type Progress = (msg: string, fraction?: Fraction) => void;

/** The writable end the reporter draws on: process.stderr, or a fake in tests. */
export interface ProgressSink {
  write(s: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

const BAR_WIDTH = 20;

/** `[#########...........] 9/20  msg`, cut to the terminal's width. */
export function progressBar(msg: string, f: Fraction, columns?: number): string {
  const width = columns && columns > BAR_WIDTH ? columns : 100; // 0 or unknown: a pseudo-terminal without a size
  const share = f.total > 0 ? Math.min(1, Math.max(0, f.done / f.total)) : 0;
  const filled = Math.round(share * BAR_WIDTH);
  const line = `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${f.done}/${f.total}  ${msg}`;
  return line.length > width - 1 ? line.slice(0, width - 1) : line;
}

/** Progress for one run. On a TTY the bar line is redrawn (`\r` and erase line); a message
 * without a fraction is printed above it as a plain line and the bar is drawn again;
 * `end()` finishes the bar with a newline. Not a TTY: one plain line per call, `[done/total] msg`
 * with a fraction (as forward always printed), else `msg`. */
export class ProgressReporter {
  private last: Fraction | undefined;
  private drawn = false;

  constructor(private readonly sink: ProgressSink = process.stderr) {}

  readonly report: Progress = (msg, fraction) => {
    if (!this.sink.isTTY) {
      this.sink.write(fraction ? `[${fraction.done}/${fraction.total}] ${msg}\n` : `${msg}\n`);
      return;
    }
    const clear = this.drawn ? '\r\x1b[2K' : '';
    if (fraction) {
      this.last = fraction;
      this.sink.write(`${clear}${progressBar(msg, fraction, this.sink.columns)}`);
      this.drawn = true;
      return;
    }
    this.sink.write(`${clear}${msg}\n`);
    this.drawn = false;
    if (this.last) {
      this.sink.write(progressBar('', this.last, this.sink.columns));
      this.drawn = true;
    }
  };

  /** Ends the bar's line (idempotent). */
  end(): void {
    if (this.drawn) this.sink.write('\n');
    this.drawn = false;
    this.last = undefined;
  }
}
