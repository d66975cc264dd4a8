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
// as in dist/ (the host resolves it beside its own modules). The other files
// under test/ (fixtures in .mjs, .cjs) are copied as they are.
import { cpSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve, sep } from 'node:path';

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

/** Writes the compiled tree of the checkout at `root` (the current directory by default); returns its path. */
export async function compileTests(root = process.cwd()) {
  root = resolve(root);
  const out = join(root, COMPILED_DIR);
  // A fresh tree each time: a file removed from the sources must not linger compiled.
  const partial = `${out}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
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
    esbuild.build({ ...common, entryPoints: [WORKER], outfile: join(partial, 'workers/provider-worker.js'), packages: 'external' }),
  ]);
  for (const f of all.filter((f) => f.startsWith('test/') && !f.endsWith('.ts'))) {
    cpSync(join(root, f), join(partial, f));
  }
  // ES modules: below node_modules, Node looks no further up for the checkout's own "type".
  writeFileSync(join(partial, 'package.json'), '{ "type": "module" }\n');
  rmSync(out, { recursive: true, force: true });
  renameSync(partial, out);
  return out;
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
