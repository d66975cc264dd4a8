// npm run build: the compiled package in dist/, with plain node (no shell
// syntax: it runs on Windows too).
//
// dist/src holds the ES modules and their declarations. dist/types-cjs holds
// the same declarations under a package.json that says "type": "commonjs":
// TypeScript reads a declaration's module format from the nearest
// package.json, and a CommonJS consumer (module node16 or commonjs) may only
// `require` declarations that are CommonJS (else TS1479). The JavaScript is
// the same ES modules for both: Node >= 20.19 loads them from require().
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

rmSync('dist', { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

mkdirSync('dist/types-cjs', { recursive: true });
cpSync('dist/src', 'dist/types-cjs/src', {
  recursive: true,
  filter: (src) => !src.endsWith('.js'),
});
writeFileSync('dist/types-cjs/package.json', `${JSON.stringify({ type: 'commonjs' }, null, 2)}\n`);

// dist/workers/provider-worker.cjs (`parley/worker`) is one bundled file, not
// tsc's module graph: a worker thread starts with an empty module cache, and
// resolving, reading and linking the few dozen modules the worker side
// imports cost about 50 ms of every worker's start.
//
// It is CommonJS, and its extension says so wherever the file is copied: a
// thread whose entry is an ES module first sets up Node's ES module loader,
// and undici's CommonJS files loaded through import() each pass its
// CommonJS translator; with require() the thread skips both, about 30 ms of
// each worker's first reply here
// (`npm run bench -- --only lifecycle`). The settings, shared with the
// test runner's and the sources' bundles, are in scripts/worker-bundle.json:
// undici stays the installed package (external, loaded with require();
// `supported: dynamic-import false` makes esbuild write its import()s so);
// comlink, a few kilobytes, is bundled with its license comment. The footer
// makes the module's exports the pool's task function itself, as piscina
// and ES module importers (an ESM host bundle, a wrapper entry) expect of a
// worker file; esbuild would export an object holding it as `default`.
// tsc's per-file output for the entry and its two roles is removed: nothing
// imports it.
for (const file of ['provider-worker', 'provider-actor', 'provider-task']) {
  for (const ext of ['.js', '.d.ts']) rmSync(`dist/workers/${file}${ext}`, { force: true });
}
const esbuild = require('esbuild');
esbuild.buildSync({
  ...require('./worker-bundle.json'),
  entryPoints: ['workers/provider-worker.ts'],
  outfile: 'dist/workers/provider-worker.cjs',
  logLevel: 'warning',
});
