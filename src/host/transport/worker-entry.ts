/**
 * Where the worker entry files are, from source and from compiled JS alike.
 * Compiled, the entry sits at the same relative place as this module. From
 * TypeScript source, the entries are bundled once per process (see
 * source-workers.ts).
 */
import { fileURLToPath } from 'node:url';
import { sourceWorkerEntry, type WorkerName } from './source-workers.ts';

const fromSource = import.meta.url.endsWith('.ts');

export interface WorkerScript {
  filename: string;
  argv: string[];
}

export function workerScript(name: WorkerName): WorkerScript {
  if (fromSource) return { filename: sourceWorkerEntry(name), argv: [] };
  return { filename: fileURLToPath(new URL(`../../../workers/${name}.js`, import.meta.url)), argv: [] };
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
