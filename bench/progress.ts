/**
 * A one-line progress bar on stderr, redrawn in place with \r. Silent when
 * stderr is not a terminal except for the final line, so logs stay readable.
 */

const WIDTH = 28;

export class Progress {
  readonly #label: string;
  readonly #total: number;
  readonly #tty = process.stderr.isTTY === true;
  readonly #started = performance.now();
  #done = 0;
  #note = '';
  #lastDraw = 0;

  constructor(label: string, total: number) {
    this.#label = label;
    this.#total = Math.max(1, total);
    this.#draw(true);
  }

  /** Moves the bar to `done` of total; `note` is shown after it (e.g. the current contender). */
  update(done: number, note = this.#note): void {
    this.#done = Math.min(done, this.#total);
    this.#note = note;
    this.#draw(false);
  }

  tick(note?: string): void {
    this.update(this.#done + 1, note);
  }

  finish(summary = ''): void {
    this.#done = this.#total;
    this.#note = summary;
    this.#draw(true);
    process.stderr.write(this.#tty ? '\n' : '');
  }

  #draw(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.#lastDraw < 80) return;
    this.#lastDraw = now;
    const frac = this.#done / this.#total;
    const filled = Math.round(frac * WIDTH);
    const secs = ((now - this.#started) / 1000).toFixed(1);
    const line = `${this.#label.padEnd(26)} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.round(frac * 100)).padStart(3)}% ${secs}s ${this.#note}`;
    if (this.#tty) {
      const cols = process.stderr.columns ?? 120;
      process.stderr.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}`);
    } else if (force && this.#done === this.#total) {
      process.stderr.write(`${line}\n`);
    }
  }
}
