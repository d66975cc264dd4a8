/**
 * The provider worker's CPU priority relative to the host thread. When cores
 * are scarce, the host thread (a UI's, a server's) should be the one the OS
 * runs first; a worker with a higher nice value yields to it. Linux only:
 * there a thread is a task with its own nice value, set through its thread
 * id. Elsewhere os.setPriority works per process, which would slow the host
 * too, so nothing is changed.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** This thread's kernel task id, or undefined where there is none to read. */
function threadTid(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // '/proc/thread-self' links to '<pid>/task/<tid>'.
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers this thread's priority to `nice` (0 leaves it alone). Returns why
 * it could not, or undefined when it did (or had nothing to do).
 */
export function lowerThreadPriority(nice: number): string | undefined {
  if (nice === 0) return undefined;
  const tid = threadTid();
  if (tid === undefined) return `workerNice is applied on Linux only (this is ${process.platform})`;
  try {
    setPriority(tid, nice);
    return undefined;
  } catch (err) {
    return `could not set the worker's nice value to ${nice}: ${(err as Error).message}`;
  }
}

/** This thread's nice value as the OS sees it, where a thread has one. */
export function threadNice(): number | undefined {
  const tid = threadTid();
  if (tid === undefined) return undefined;
  try {
    return getPriority(tid);
  } catch {
    return undefined;
  }
}
