// How long each test file took last time, so the next run starts the longest
// first: with the files queued alphabetically, a long file that starts late
// keeps the run going on one core while the others are idle (longest
// processing time first is the classic cure).
//
// The default export is a node:test reporter (test-queue.mjs adds it beside
// the usual one): it writes nothing to its destination, and at the end
// records each file's duration in node_modules/.cache/parley/test-durations.json.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout (this file is test/runner/ in it); the record and the files it names are relative to it. */
const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const RECORD = join(CHECKOUT, 'node_modules/.cache/parley/test-durations.json');

function recorded() {
  try {
    return JSON.parse(readFileSync(RECORD, 'utf8'));
  } catch {
    return {};
  }
}

/**
 * The order of a checkout's first run (a fresh clone, CI), before it has a
 * record of its own: each suite's time in one npm test on the 2-core
 * reference machine, in ms, by its file name under test/. Refresh it now and
 * then from a checkout's record (node_modules/.cache/parley/
 * test-durations.json, keys cut to the part after compiled/test/); a stale
 * one only orders the first run less well.
 */
const SEED = join(CHECKOUT, 'test/runner/test-durations.seed.json');

/**
 * `files` (paths relative to the checkout), longest last time first, by this
 * checkout's record, else by the seed; files seen in neither go first of
 * all. A test's events name the file that defines it, so a pool-mode
 * wrapper (test/pool/x.test.js) is timed with its suite (test/x.test.js):
 * both get the two runs' sum, which still puts them about where they belong.
 */
export function longestFirst(files) {
  const ms = recorded();
  const seed = JSON.parse(readFileSync(SEED, 'utf8'));
  const known = (f) => {
    const suite = f.replace('/test/pool/', '/test/');
    return ms[suite] ?? seed[suite.slice(suite.lastIndexOf('/test/') + '/test/'.length)] ?? Infinity;
  };
  return [...files].sort((a, b) => known(b) - known(a) || a.localeCompare(b));
}

/**
 * Sums each file's top-level tests' durations (its process start and its
 * imports are not in them: close enough to order by). Files no longer there
 * are dropped from the record.
 */
export default async function* durations(source) {
  const ms = {};
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || !file || typeof details?.duration_ms !== 'number') continue;
    const key = relative(CHECKOUT, file).split('\\').join('/');
    ms[key] = (ms[key] ?? 0) + details.duration_ms;
  }
  const merged = Object.fromEntries(Object.entries({ ...recorded(), ...ms }).filter(([f]) => existsSync(join(CHECKOUT, f.replace('/test/pool/', '/test/')))));
  mkdirSync(dirname(RECORD), { recursive: true });
  const partial = `${RECORD}.${process.pid}.partial`;
  writeFileSync(partial, `${JSON.stringify(merged, null, 1)}\n`);
  renameSync(partial, RECORD);
}
