/**
 * Where the checkout is, and how a test reaches one of its TypeScript
 * files from another process or thread, whichever way the test itself runs:
 * - from the sources, under tsx (`node --import tsx --test test/x.test.ts`,
 *   the way to run or debug one file);
 * - compiled (`npm test`): test/runner/compile-tests.mjs has written every
 *   .ts file of src/, workers/ and test/ as plain JavaScript under
 *   node_modules/.cache/parley/compiled, with the same layout, so no process
 *   pays for tsx (its loader thread and transforms cost about 0.8 CPU-s per
 *   process here, and npm test starts several hundred).
 * A path computed from a test's own import.meta.url would point into the
 * compiled tree; a test asks this module instead.
 */
import { join, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sourceWorkerEntry } from '../../src/host/transport/source-workers.ts';

/** True when this file runs compiled (npm test), false under tsx. */
export const COMPILED = import.meta.url.endsWith('.js');

/** The root of the code this process runs (this file is test/helpers/ under it): the compiled tree, or the checkout itself. */
const CODE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The checkout's root directory (with a trailing separator), in both ways:
 * the compiled tree lies under the checkout's node_modules, however deep.
 */
export const REPO = COMPILED ? CODE_ROOT.slice(0, CODE_ROOT.lastIndexOf(`${sep}node_modules${sep}`) + 1) : CODE_ROOT;

/** tsx's loader, by its absolute URL: a child's working directory need not be the checkout. */
const TSX = import.meta.resolve('tsx');

/** `file` (a checkout path such as 'src/index.ts') as this process runs it: its compiled .js, or itself. */
export function codePath(file: string): string {
  return join(CODE_ROOT, COMPILED ? file.replace(/\.ts$/, '.js') : file);
}

/** codePath() as a file URL, for import(). */
export function codeUrl(file: string): string {
  return pathToFileURL(codePath(file)).href;
}

/**
 * The V8 flags npm test's runner gave this process (test/runner/run-tests.mjs,
 * NODE_ARGS), for the node processes a test starts: `--liftoff-only` spares
 * a short-lived child the optimized compile of undici's wasm parser it would
 * not live to use, about 85 CPU-ms of each runtime here, as it does the test
 * processes. A child process does not inherit its parent's flags.
 */
export const CHILD_FLAGS: readonly string[] = process.execArgv.filter((arg) => arg === '--liftoff-only');

/** node's arguments to run `file` (a checkout path to a .ts script) in a child process: the compiled script, or the source under tsx. */
export function nodeScript(file: string): string[] {
  return [...TS_LOADER, codePath(file)];
}

/** node's arguments to load TypeScript for a child given a script by -e (none when compiled, tsx from the sources), after CHILD_FLAGS. */
export const TS_LOADER: readonly string[] = COMPILED ? [...CHILD_FLAGS] : [...CHILD_FLAGS, '--import', TSX];

/** The provider worker's entry this process's runtimes use by default: the compiled bundle, or the one bundled from the sources. */
export function defaultWorkerEntry(): string {
  return COMPILED ? join(CODE_ROOT, 'workers/provider-worker.cjs') : sourceWorkerEntry();
}
