/**
 * The abort signal of one call inside the worker, with the call's deadline
 * (the deadline sweep reads it). An AbortController costs an EventTarget per
 * call, on the hot path of every chat; undici and the retry sleep only need
 * `aborted`, `reason` and one or two 'abort' listeners, which this gives for
 * the price of a small object.
 */
type Listener = () => void;

export class CallSignal {
  aborted = false;
  reason: unknown = undefined;
  #listeners: Listener[] | undefined;

  /**
   * @param deadlineAt absolute time (Date.now() clock) after which the call is a TIMEOUT; default never.
   * @param provider the provider the call is for, named in that TIMEOUT.
   */
  constructor(
    readonly deadlineAt = Infinity,
    readonly provider?: string,
  ) {}

  addEventListener(_type: 'abort', listener: Listener): void {
    (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: Listener): void {
    const listeners = this.#listeners;
    if (!listeners) return;
    const index = listeners.indexOf(listener);
    if (index >= 0) listeners.splice(index, 1);
  }

  /** Aborts once; listeners run once each, in the order they were added. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }
}
