/**
 * Where the worker entry files are, from source under tsx and from compiled
 * JS alike: the entry sits at the same relative place with the same file
 * extension as this module. Node 20 does not apply `--import tsx` inside
 * worker threads, so a .ts entry is started through a small JS bootstrap
 * that registers tsx first.
 */
import { fileURLToPath } from 'node:url';

const fromSource = import.meta.url.endsWith('.ts');

export interface WorkerScript {
  filename: string;
  argv: string[];
}

export function workerScript(name: 'provider-actor' | 'provider-task'): WorkerScript {
  const entry = new URL(`../../../workers/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url);
  if (!fromSource) return { filename: fileURLToPath(entry), argv: [] };
  return { filename: fileURLToPath(new URL('../../../workers/tsx-bootstrap.mjs', import.meta.url)), argv: [entry.href] };
}

/**
 * Flags for a worker thread. Without extra flags, undefined: the thread
 * inherits the parent's flags the way Node filters them (a host started with
 * --expose-gc or --max-old-space-size must still work). With extra flags,
 * only those: passing the parent's per-process flags explicitly would make
 * Node refuse to start the thread.
 */
export function workerExecArgv(extra: readonly string[]): string[] | undefined {
  return extra.length > 0 ? [...extra] : undefined;
}
