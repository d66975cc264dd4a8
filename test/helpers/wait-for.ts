/**
 * Bounded waits for tests: poll a condition instead of sleeping and hoping.
 */
import { waitFor } from '../../src/testing/index.ts';

export { waitFor };

/** Resolves with how long `promise` took to settle, or rejects if it did not settle within `ms`. */
export async function settlesWithin<T>(promise: Promise<T>, ms: number, what = 'the call'): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    const outcome = await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      limit,
    ]);
    return { ms: performance.now() - started, ...outcome };
  } finally {
    clearTimeout(timer);
  }
}
