/**
 * Runs pieces of work in the order they come, at most SLICE_MS of them per
 * macrotask; the rest wait for the next turn of the event loop (setImmediate).
 *
 * Why: a burst arrives in one macrotask. A thousand calls posted in one tick
 * reach a worker as one port callback (Node delivers every message queued on
 * a port in one go), and each call's sync part (its request body serialized,
 * its request dispatched) then ran back to back: 1,000 chats of 100 KB
 * blocked a worker's event loop for 0.3 s on a quiet machine and 1.6 s on a
 * loaded one, long enough to miss its heartbeats and be killed as a wedge.
 * Between slices the event loop serves timers, sockets and other ports (the
 * heartbeat's among them), so a burst is served while a real wedge, which
 * never yields, is still caught.
 */

/** ms of work one macrotask does before the rest waits for the next turn. */
export const SLICE_MS = 5;

export class TimeSlicer {
  /** When the current macrotask's slice began; -1 while none is open. */
  #sliceStart = -1;
  readonly #waiting: (() => void)[] = [];
  /** Index of the next waiting piece (a queue without shift()'s copying). */
  #head = 0;
  #drainScheduled = false;

  /**
   * Runs `work` now when this macrotask's slice has time left and nothing
   * waits before it; otherwise after what waits, in a later macrotask. An
   * exception from `work` is rethrown on its own (queueMicrotask), so the
   * pieces after it still run.
   */
  run(work: () => void): void {
    if (this.#head === this.#waiting.length && this.#hasTime()) return work();
    this.#waiting.push(work);
    this.#scheduleDrain();
  }

  #hasTime(): boolean {
    const now = performance.now();
    if (this.#sliceStart < 0) {
      this.#sliceStart = now;
      // The slice ends with this macrotask: the next one starts afresh.
      setImmediate(() => (this.#sliceStart = -1));
      return true;
    }
    return now - this.#sliceStart < SLICE_MS;
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    this.#drainScheduled = false;
    const started = performance.now();
    while (this.#head < this.#waiting.length) {
      const work = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = undefined as never;
      try {
        work();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
      if (performance.now() - started >= SLICE_MS) break;
    }
    if (this.#head < this.#waiting.length) return this.#scheduleDrain();
    this.#waiting.length = 0;
    this.#head = 0;
  }
}
