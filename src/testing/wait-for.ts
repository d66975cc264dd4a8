/**
 * Polls a condition with a bounded wait: how tests observe asynchronous
 * effects such as a socket being released, without sleeps that hope.
 */

export interface WaitForOptions {
  /** @default 2000 */
  timeoutMs?: number;
  /** @default 5 */
  intervalMs?: number;
  /** Names the condition in the timeout error. */
  what?: string;
}

/** Resolves with the first truthy value of `check()`; rejects after `timeoutMs` with the last value seen. */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<T> {
  const { timeoutMs = 2000, intervalMs = 5, what = 'condition' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`waitFor: ${what} still false after ${timeoutMs} ms (last value ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
