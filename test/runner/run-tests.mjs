// npm test: every suite, plus the suites whose behaviour differs in pool
// mode run again with workers: 2, compiled to plain JavaScript first (see
// compile-tests.mjs: no process pays for tsx), in one node:test run.
// One file from the sources, to run or debug it: node --import tsx --test test/x.test.ts
//
// One run, not a main pass and a pool pass side by side: the pool's suites
// are files of their own (compile-tests.mjs writes a wrapper that sets the
// mode, then imports the suite), so one queue fills the cores, longest file
// first. Plain node, no shell syntax: it runs on Windows too.
//
//   npm test              every suite, and the pool's again
//   npm run test:pool     the pool's only
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileTests, COMPILED_DIR } from './compile-tests.mjs';
import { longestFirst } from './test-durations.mjs';

/** Runs the files in the order given: test-queue.mjs. */
const TEST_QUEUE = fileURLToPath(new URL('./test-queue.mjs', import.meta.url));

/**
 * --liftoff-only: V8 keeps WebAssembly on its baseline compiler. undici
 * parses HTTP/1 with llhttp compiled to wasm, and V8's optimizing tier-up of
 * it runs as a background job that a worker thread waits for before it can
 * exit: about 200 ms added to every shutdown() of a runtime that served its
 * first calls within the last moments, which is every runtime in a test.
 * Behaviour is the same on either tier; node:test's run() passes the flag
 * on to each test file's process, and V8 flags are process-wide, so the
 * workers have it too (and test/helpers/checkout.ts passes it to children).
 */
const NODE_ARGS = ['--liftoff-only'];

/**
 * Test files at once: the cores plus two (the suites wait on timers and
 * sockets part of the time), at least 3; PARLEY_TEST_CONCURRENCY overrides
 * it. Past that, on this 2-core machine, more files at once only added
 * contention (and a pool thread starved for 1.5 s).
 */
function concurrency() {
  const fromEnv = Number(process.env.PARLEY_TEST_CONCURRENCY);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(3, Math.min(8, availableParallelism() + 2));
}

/**
 * The suites whose behaviour differs in pool mode (workers: 2). The others
 * test both modes themselves (door-*, secrets-*, network-*, ...) or do not
 * depend on the mode. A conversation's failed turns (continuity-failed-turns)
 * are the host's conversation over whatever the runtime answers: the codes a
 * pool answers with are checked by runtime-abort, runtime-deadlines and
 * runtime-provider-failures here, and by secrets-redaction in both modes.
 */
const POOL_SUITES = [
  'runtime-chat',
  'runtime-abort',
  'runtime-backpressure',
  'runtime-deadlines',
  'runtime-shutdown',
  'runtime-provider-failures',
  'continuity-provider-restart',
  'continuity-worker-crash',
  'supervision-fault-matrix',
].map((name) => `${name}.test.ts`);

function allSuites() {
  return readdirSync('test')
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
}

/**
 * One npm test per checkout at a time: a second would rebuild dist/ and the
 * compiled tree under the first one's tests. A lock left by a run that died
 * (its pid is gone) is taken over.
 */
function lockCheckout() {
  const path = 'node_modules/.cache/parley/npm-test.lock';
  mkdirSync(dirname(path), { recursive: true });
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: 'wx' });
      process.once('exit', () => rmSync(path, { force: true }));
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const text = readFileSync(path, 'utf8').trim();
    const holder = Number(text);
    // Empty: its run created it a moment ago and is writing its pid.
    if (text === '' || isAlive(holder)) {
      process.stderr.write(`npm test: another npm test (pid ${text || '?'}) is running in this checkout; wait for it, or run one suite: node --import tsx --test test/x.test.ts\n`);
      process.exit(1);
    }
    rmSync(path, { force: true });
  }
}

function isAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

lockCheckout();

/** What dist/ is built from. */
const BUILD_INPUTS = ['src', 'workers', 'scripts', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];
/**
 * The dist/ an earlier npm test built: the digest of its inputs and the time
 * its last file was written (scripts/build.mjs writes the worker bundle
 * last), so a dist/ built since by other means (npm run build) is not taken
 * for it.
 */
const BUILT = 'node_modules/.cache/parley/dist-built-from';
const LAST_BUILT_FILE = 'dist/workers/provider-worker.cjs';

function buildRecord() {
  const hash = createHash('sha256');
  const add = (path) => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) add(`${path}/${entry}`);
    } else {
      hash.update(`${path}\0`).update(readFileSync(path)).update('\0');
    }
  };
  for (const input of BUILD_INPUTS) add(input);
  return `${hash.digest('hex')} ${existsSync(LAST_BUILT_FILE) ? statSync(LAST_BUILT_FILE).mtimeMs : 'none'}`;
}

// The CLI suites run the CLI from dist/ (as the installed bin runs), and the
// package test packs it: build it first, from the sources under test. A
// dist/ that an earlier npm test built from the very same inputs is kept:
// the build (tsc with declarations) is about 5 s and 7 CPU-s here.
if (!existsSync(BUILT) || readFileSync(BUILT, 'utf8') !== buildRecord()) {
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  if (built.status !== 0) {
    process.stderr.write('npm test: the build failed\n');
    process.exit(1);
  }
  writeFileSync(BUILT, buildRecord());
} else {
  process.stderr.write('npm test: dist/ is built from these sources already\n');
}
process.env.PARLEY_TEST_BUILT = '1';

const poolOnly = process.argv[2] === 'pool';
let files;
try {
  // Paths relative to the checkout, the runner's working directory.
  files = await compileTests({ suites: poolOnly ? [] : allSuites(), poolSuites: POOL_SUITES });
} catch (err) {
  process.stderr.write(`npm test: compiling the tests failed: ${err.message}\n`);
  process.exit(1);
}

// The report goes to stdout as node --test would write it by default; the
// durations reporter records each file's time for the next run's order.
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const queue = [...NODE_ARGS, TEST_QUEUE, String(concurrency()), reporter, ...longestFirst(files)];
const child = spawn(process.execPath, queue, { stdio: 'inherit' });
child.once('close', (code, signal) => {
  process.exitCode = code === 0 ? 0 : 1;
  if (code !== 0) process.stderr.write(`npm test: FAILED (${code ?? signal}); the pool-mode runs of a suite are the files under ${COMPILED_DIR}/test/pool/\n`);
});
