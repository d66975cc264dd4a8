/**
 * A full garbage collection before a memory reading, so RSS growth means
 * retained memory rather than garbage not yet collected. Uses global.gc when
 * node ran with --expose-gc, and otherwise turns the flag on at run time.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined = typeof globalThis.gc === 'function' ? (globalThis.gc as () => void) : undefined;
if (!collect) {
  try {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  } catch {
    collect = undefined;
  }
}

export const gcAvailable = collect !== undefined;

/** Collects twice (the second pass frees what finalizers of the first released) and lets the loop settle. */
export async function fullGc(settleMs = 300): Promise<void> {
  for (let i = 0; i < 2; i++) {
    collect?.();
    await new Promise((resolve) => setTimeout(resolve, settleMs / 2));
  }
}
