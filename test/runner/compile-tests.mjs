// The compiled tree npm test runs: every .ts file of src/, workers/ and test/
// written as plain JavaScript, one file each, with the same layout, under
// node_modules/.cache/parley/compiled (test/helpers/checkout.ts names it).
//
// Why: under tsx each test process, and each child a test spawns, started a
// loader thread and transformed its modules: about 0.8 CPU-s per process on
// this 2-core machine, paid by the ~100 test files and the several hundred
// children they start. esbuild (the compiler tsx itself uses) writes the
// whole tree in well under a second.
//
// Each file stays its own module: relative imports are kept, with .ts
// changed to .js, and packages stay imports, so import.meta.url and module
// identity are what they are under tsx. The provider worker is one bundle,
// CommonJS, as in dist/ (the host resolves it beside its own modules). The other files
// under test/ (fixtures in .mjs, .cjs) are copied as they are.
//
// A suite that runs again in pool mode gets a second file,
// test/pool/<suite>.test.js: it sets PARLEY_TEST_WORKERS=2 (static imports
// run in order, so before the suite reads it), then imports the suite. One
// queue (test-queue.mjs) then holds both modes.
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';

const require = createRequire(import.meta.url);
const esbuild = require('esbuild');

export const COMPILED_DIR = 'node_modules/.cache/parley/compiled';
const ROOTS = ['src', 'workers', 'test'];
const WORKER = 'workers/provider-worker.ts';

/** The files under `dir` of the checkout at `root`, as checkout paths with '/'. (Node 20.12+ names a Dirent's directory parentPath; earlier, path.) */
function files(root, dir) {
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath ?? entry.path, entry.name)).split(sep).join('/'));
}

/**
 * Writes the compiled tree of the checkout at `root` (the current directory
 * by default). `suites` and `poolSuites` name test files under test/
 * ('runtime-chat.test.ts'); returns the files to run, relative to `root`:
 * each of `suites` compiled, then each pool-mode wrapper.
 */
export async function compileTests({ suites, poolSuites, root = process.cwd() }) {
  root = resolve(root);
  const out = join(root, COMPILED_DIR);
  mkdirSync(dirname(out), { recursive: true });
  // A fresh tree each time: a file removed from the sources must not linger
  // compiled. The caller holds the checkout's test lock, so any partial tree
  // left here is a dead run's.
  for (const left of readdirSync(dirname(out)).filter((f) => f.startsWith(`${basename(out)}.`) && f.endsWith('.partial'))) {
    rmSync(join(dirname(out), left), { recursive: true, force: true });
  }
  const partial = `${out}.${process.pid}.partial`;
  const all = ROOTS.flatMap((dir) => files(root, dir));
  const sources = all.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && f !== WORKER);
  const common = { absWorkingDir: root, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' };
  await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: sources,
      outdir: partial,
      outbase: '.',
      plugins: [eachFileItsOwn],
    }),
    esbuild.build({
      ...require('../../scripts/worker-bundle.json'),
      absWorkingDir: root,
      logLevel: 'warning',
      entryPoints: [WORKER],
      // CommonJS, as in dist/ (scripts/build.mjs says why).
      outfile: join(partial, 'workers/provider-worker.cjs'),
    }),
  ]);
  for (const f of all.filter((f) => f.startsWith('test/') && !f.endsWith('.ts'))) {
    cpSync(join(root, f), join(partial, f));
  }
  mkdirSync(join(partial, 'test/pool'), { recursive: true });
  writeFileSync(join(partial, 'test/pool/pool-mode.js'), "// Before the suite is loaded: test/helpers/workers-mode.ts reads it.\nprocess.env.PARLEY_TEST_WORKERS = '2';\n");
  for (const suite of poolSuites) {
    const js = suite.replace(/\.ts$/, '.js');
    writeFileSync(join(partial, 'test/pool', js), `// ${suite} in pool mode (workers: 2).\nimport './pool-mode.js';\nimport '../${js}';\n`);
  }
  // ES modules: below node_modules, Node looks no further up for the
  // checkout's own "type". The name and version are the checkout's, for the
  // CLI's --version, which looks for parley's package.json upwards.
  const { name, version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  writeFileSync(join(partial, 'package.json'), `${JSON.stringify({ name, version, private: true, type: 'module' }, null, 2)}\n`);
  rmSync(out, { recursive: true, force: true });
  renameSync(partial, out);
  const compiled = (suite, dir) => `${COMPILED_DIR}/test/${dir}${suite.replace(/\.ts$/, '.js')}`;
  return [...suites.map((s) => compiled(s, '')), ...poolSuites.map((s) => compiled(s, 'pool/'))];
}

/** Bundling without bundling: every import stays an import (a relative .ts one now names the .js beside it). */
const eachFileItsOwn = {
  name: 'each-file-its-own',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      if (args.path.startsWith('.')) return { path: args.path.replace(/\.ts$/, '.js'), external: true };
      return { path: args.path, external: true };
    });
  },
};
