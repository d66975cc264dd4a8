/**
 * Where the worker entry is: the one RuntimeOptions.workerEntry names, else
 * the compiled `dist/workers/provider-worker.js` parley ships next to this
 * module. From TypeScript source, the entry is bundled once per process (see
 * source-workers.ts).
 */
import { fileURLToPath } from 'node:url';
import { ParleyError } from '../../shared/errors.ts';
import { sourceWorkerEntry } from './source-workers.ts';

// Undefined inside a host bundled as CommonJS: bundlers leave import.meta empty there.
const here: string | undefined = import.meta.url;
const fromSource = here?.endsWith('.ts') ?? false;

/** True when parley runs from its TypeScript source (its own tests, the bench). */
export function runsFromSource(): boolean {
  return fromSource;
}

export interface WorkerScript {
  filename: string;
  argv: string[];
}

/**
 * The compiled entry parley ships, found relative to this module: right for
 * an installed package, wrong inside a bundle (the path points beside the
 * bundle) or an asar archive. Undefined from source, or where this module
 * has no file URL of its own.
 */
export function shippedWorkerEntry(): string | undefined {
  if (fromSource || !here?.startsWith('file:')) return undefined;
  return fileURLToPath(new URL('../../../workers/provider-worker.js', here));
}

/** `entry`: the checked options.workerEntry (an absolute path), or undefined for parley's own. */
export function workerScript(entry: string | undefined): WorkerScript {
  if (entry !== undefined) return { filename: entry, argv: [] };
  if (fromSource) return { filename: sourceWorkerEntry(), argv: [] };
  const shipped = shippedWorkerEntry();
  // resolveRuntimeOptions refused this already; kept so a caller that skipped it gets the same answer.
  if (shipped === undefined) throw new ParleyError('CONFIG', 'options.workerEntry is required where parley is bundled as CommonJS');
  return { filename: shipped, argv: [] };
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
