/**
 * Which parley the bench runs. By default the compiled package in dist/, as
 * users install it: run.ts builds it first. Under tsx the source pays for
 * the transform's extras (a `__name` call on every closure it creates, a
 * loader bootstrap in each worker), which no installed copy does; about 5%
 * at chat c=64. `--from-source` benches src/ instead, for a quick look
 * without a build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Parley from '../src/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let loaded: typeof Parley | undefined;
let baseline: typeof Parley | undefined;
let baselineFile: string | undefined;
let entryFile = join(ROOT, 'src', 'index.ts');
let origin = 'src (tsx)';
/** Written after a build: a dist/ newer than every source file is not built again (a quick run stays quick). */
const STAMP = join(ROOT, 'dist', '.bench-build');

function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function distIsFresh(): boolean {
  if (!existsSync(STAMP)) return false;
  const sources = Math.max(
    newestSourceMs(join(ROOT, 'src')),
    newestSourceMs(join(ROOT, 'workers')),
    newestSourceMs(join(ROOT, 'scripts')),
    statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs,
  );
  return statSync(STAMP).mtimeMs > sources;
}

export async function loadParley(fromSource: boolean): Promise<string> {
  if (fromSource) {
    loaded = await import('../src/index.ts');
    origin = 'src (tsx)';
    return origin;
  }
  if (distIsFresh()) origin = 'dist (tsc, up to date)';
  else {
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed (use --from-source to bench src/):\n${build.stderr}`);
    writeFileSync(STAMP, '');
    origin = 'dist (tsc)';
  }
  // A computed specifier: type-checking must not need dist/ to exist.
  const entry = new URL('../dist/src/index.js', import.meta.url).href;
  loaded = (await import(entry)) as typeof Parley;
  entryFile = fileURLToPath(entry);
  return origin;
}

/**
 * Another parley to run beside this one, as `parley w1 baseline`: a
 * checkout (or its dist/src/index.js) built beforehand, e.g. main's, so a
 * change is measured against what it changes in the same run.
 */
export async function loadBaseline(path: string): Promise<string> {
  const full = resolve(path);
  const entry = full.endsWith('.js') ? full : join(full, 'dist', 'src', 'index.js');
  if (!existsSync(entry)) throw new TypeError(`--baseline: ${entry} does not exist (build that checkout first: npm run build)`);
  baseline = (await import(pathToFileURL(entry).href)) as typeof Parley;
  baselineFile = entry;
  return entry;
}

export function baselineParley(): typeof Parley | undefined {
  return baseline;
}

/** The parley module loadParley chose; scenarios call this when they run. */
export function parley(): typeof Parley {
  if (!loaded) throw new Error('loadParley() must run before a parley contender opens');
  return loaded;
}

/** The file loadParley imported (dist/src/index.js, or src/index.ts with --from-source), for a fresh process to import. */
export function parleyEntry(): string {
  return entryFile;
}

/** The --baseline entry file, if one was loaded. */
export function baselineEntry(): string | undefined {
  return baselineFile;
}

export function parleyOrigin(): string {
  return origin;
}
