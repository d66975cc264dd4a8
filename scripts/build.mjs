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

// dist/workers/provider-worker.js (`parley/worker`) is one bundled file, not
// tsc's module graph: a worker thread starts with an empty module cache, and
// resolving, reading and linking the few dozen modules the worker side
// imports cost about 50 ms of every worker's start. Packages stay external
// (undici and comlink are the installed copies).
// tsc's per-file output for the two roles is removed: nothing imports it.
const esbuild = require('esbuild');
esbuild.buildSync({
  entryPoints: ['workers/provider-worker.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile: 'dist/workers/provider-worker.js',
  allowOverwrite: true,
  logLevel: 'warning',
});
for (const role of ['provider-actor', 'provider-task']) {
  for (const ext of ['.js', '.d.ts']) rmSync(`dist/workers/${role}${ext}`, { force: true });
}
