/**
 * Bounded waits for tests: poll a condition instead of sleeping and hoping.
 */
import { waitFor as pollUntil, type WaitForOptions } from '../../src/testing/index.ts';

/**
 * How long a condition may take to come true before the test fails. A guard
 * against a hang, sized for a machine whose cores are all busy: a condition
 * that holds returns at the next poll, so a large guard costs nothing.
 */
export const WAIT_GUARD_MS = 20_000;

/** The embedded server's waitFor, with WAIT_GUARD_MS as its default timeout. */
export function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<T> {
  return pollUntil(check, { timeoutMs: WAIT_GUARD_MS, ...options });
}

/**
 * A guard against a hang, not a measure of speed: resolves with the outcome
 * of `promise` (its value or its error), or rejects if it did not settle
 * within `ms`. Pick `ms` far from anything a loaded machine could reach and
 * far below the deadline it tells apart (a call that waits for its deadline
 * instead of reacting must miss it); never assert on how long a call took.
 */
export async function settlesWithin<T>(promise: Promise<T>, ms: number, what = 'the call'): Promise<{ value?: T; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      limit,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
