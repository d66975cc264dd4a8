// npm test: the suites, compiled to plain JavaScript first (see
// compile-tests.mjs: no process pays for tsx), and the pool pass beside them.
// One file from the sources, to run or debug it: node --import tsx --test test/x.test.ts
//
// Both passes run at once because most of a test's time is spent waiting
// (deadlines, heartbeats, servers that hold their replies), not computing:
// side by side they fill the cores that one pass leaves idle. The pool pass's
// output is held and printed after the main pass, so neither report is cut
// into the other. Plain node, no shell syntax: it runs on Windows too.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { compileTests, COMPILED_DIR } from './compile-tests.mjs';

/**
 * --liftoff-only: V8 keeps WebAssembly on its baseline compiler. undici
 * parses HTTP/1 with llhttp compiled to wasm, and V8's optimizing tier-up of
 * it runs as a background job that a worker thread waits for before it can
 * exit: about 200 ms added to every shutdown() of a runtime that served its
 * first calls within the last moments, which is every runtime in a test.
 * Behaviour is the same on either tier; node --test passes the flag on to
 * each test file's process, and V8 flags are process-wide, so the workers
 * have it too.
 */
const TEST_ARGS = ['--liftoff-only', '--test', `--test-concurrency=${concurrency()}`, '--test-timeout=300000'];

/**
 * Test files at once, per pass: the cores plus one (the suites wait on
 * timers and sockets part of the time), at least 2; PARLEY_TEST_CONCURRENCY
 * overrides it. On this 2-core machine 3 per pass (6 in all) took 303 s and
 * 542 CPU-s where 6 per pass took 317 s and 582 CPU-s: past the cores, more
 * files at once only add contention (and a pool thread starved for 1.5 s).
 */
function concurrency() {
  const fromEnv = Number(process.env.PARLEY_TEST_CONCURRENCY);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return Math.max(2, Math.min(6, availableParallelism() + 1));
}

/**
 * The suites whose behaviour differs in pool mode (workers: 2). The others
 * test both modes themselves (door-*, secrets-*, network-*, ...) or do not
 * depend on the mode.
 */
const POOL_SUITES = [
  'runtime-chat',
  'runtime-abort',
  'runtime-backpressure',
  'runtime-deadlines',
  'runtime-shutdown',
  'runtime-provider-failures',
  'continuity-failed-turns',
  'continuity-provider-restart',
  'continuity-worker-crash',
  'supervision-fault-matrix',
].map((name) => `${name}.test.ts`);

function allSuites() {
  return readdirSync('test')
    .filter((f) => f.endsWith('.test.ts'))
    .sort();
}

/** A suite's compiled file, relative to the checkout (the runner's working directory). */
const compiled = (suite) => `${COMPILED_DIR}/test/${suite.replace(/\.ts$/, '.js')}`;

function run(files, env, held) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...TEST_ARGS, ...files], { env: { ...process.env, ...env }, stdio: ['ignore', held ? 'pipe' : 'inherit', held ? 'pipe' : 'inherit'] });
    const chunks = [];
    if (held) {
      child.stdout.on('data', (d) => chunks.push(d));
      child.stderr.on('data', (d) => chunks.push(d));
    }
    child.once('close', (code, signal) => resolve({ ok: code === 0, code, signal, output: Buffer.concat(chunks) }));
  });
}

// The CLI suites run the CLI from dist/ (as the installed bin runs), and the
// package test packs it: build it once, first, from the sources under test.
const built = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (built.status !== 0) {
  process.stderr.write('npm test: the build failed\n');
  process.exit(1);
}
process.env.PARLEY_TEST_BUILT = '1';
try {
  await compileTests();
} catch (err) {
  process.stderr.write(`npm test: compiling the tests failed: ${err.message}\n`);
  process.exit(1);
}

const only = process.argv[2];
if (only === 'pool') {
  const pool = await run(POOL_SUITES.map(compiled), { PARLEY_TEST_WORKERS: '2' }, false);
  process.exitCode = pool.ok ? 0 : 1;
} else {
  const [main, pool] = await Promise.all([run(allSuites().map(compiled), {}, false), run(POOL_SUITES.map(compiled), { PARLEY_TEST_WORKERS: '2' }, true)]);
  process.stdout.write('\n# pool pass (PARLEY_TEST_WORKERS=2)\n');
  process.stdout.write(pool.output);
  process.stdout.write(`\n# main pass ${main.ok ? 'passed' : `FAILED (${main.code ?? main.signal})`}; pool pass ${pool.ok ? 'passed' : `FAILED (${pool.code ?? pool.signal})`}\n`);
  process.exitCode = main.ok && pool.ok ? 0 : 1;
}
