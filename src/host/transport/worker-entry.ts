/**
 * Where the worker entry is: the one RuntimeOptions.workerEntry names, else
 * the compiled `dist/workers/provider-worker.cjs` parley ships next to this
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
  /** True for the bundle source-workers.ts builds from TypeScript: plain JavaScript that needs no loader. */
  sourceBundle: boolean;
}

/**
 * The compiled entry parley ships, found relative to this module: right for
 * an installed package, wrong inside a bundle (the path points beside the
 * bundle) or an asar archive. Undefined from source, or where this module
 * has no file URL of its own.
 */
export function shippedWorkerEntry(): string | undefined {
  if (fromSource || !here?.startsWith('file:')) return undefined;
  return fileURLToPath(new URL('../../../workers/provider-worker.cjs', here));
}

/** `entry`: the checked options.workerEntry (an absolute path), or undefined for parley's own. */
export function workerScript(entry: string | undefined): WorkerScript {
  if (entry !== undefined) return { filename: entry, argv: [], sourceBundle: false };
  if (fromSource) return { filename: sourceWorkerEntry(), argv: [], sourceBundle: true };
  const shipped = shippedWorkerEntry();
  // resolveRuntimeOptions refused this already; kept so a caller that skipped it gets the same answer.
  if (shipped === undefined) throw new ParleyError('CONFIG', 'options.workerEntry is required where parley is bundled as CommonJS');
  return { filename: shipped, argv: [], sourceBundle: false };
}

/**
 * Flags for a worker thread. Without extra flags, undefined: the thread
 * inherits the parent's flags the way Node filters them (a host started with
 * --expose-gc or --max-old-space-size must still work). With extra flags,
 * only those: passing the parent's per-process flags explicitly would make
 * Node refuse to start the thread.
 *
 * From source (parley's own tests, `npm start`, the bench's --from-source)
 * the host runs under tsx, and a thread that inherited `--import tsx` would
 * register tsx's loader again and send every module it loads (Node's own
 * included) through tsx's hooks: in `npm test` that was about a third of
 * the workers' CPU. The source bundle is plain JavaScript: it gets no
 * flags. V8's flags are process-wide, so the thread keeps them all the same.
 */
export function workerExecArgv(extra: readonly string[], script: WorkerScript): string[] | undefined {
  if (extra.length > 0) return [...extra];
  return script.sourceBundle ? [] : undefined;
}
