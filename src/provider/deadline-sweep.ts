/**
 * The worker's own backstop for call deadlines. The host keeps every call's
 * deadline and sends a cancel when it passes; if that cancel is lost (a
 * thread still starting, a port closed early, a host too busy to send it),
 * the call would hold its socket and its body for good. One shared timer
 * sweeps the calls instead of a timer per call: it runs only while calls
 * exist, so a call outlives its deadline by one sweep interval at most.
 */
import { ParleyError } from '../shared/errors.ts';
import type { CallSignal } from './call-signal.ts';

/** How often the sweep looks; the most a call outlives its deadline in the worker. */
export const SWEEP_INTERVAL_MS = 100;

export class DeadlineSweep {
  readonly #calls: ReadonlyMap<number, CallSignal>;
  #timer: NodeJS.Timeout | undefined;

  /** `calls` is the worker's map of calls in flight, read on every sweep. */
  constructor(calls: ReadonlyMap<number, CallSignal>) {
    this.#calls = calls;
  }

  /** A call was added: the sweep runs until the map is empty. */
  watch(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    // A call in flight holds its socket, which keeps the thread alive; the
    // sweep alone must not keep a closed worker from exiting.
    this.#timer.unref();
  }

  #sweep(): void {
    if (this.#calls.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    for (const signal of this.#calls.values()) {
      if (now >= signal.deadlineAt && !signal.aborted) {
        signal.abort(new ParleyError('TIMEOUT', `call to provider "${signal.provider}" passed its deadline`, { provider: signal.provider }));
      }
    }
  }
}
