/**
 * Which parley the bench runs. By default the compiled package in dist/, as
 * users install it: run.ts builds it first. Under tsx the source pays for
 * the transform's extras (a `__name` call on every closure it creates, a
 * loader bootstrap in each worker), which no installed copy does; about 5%
 * at chat c=64. `--from-source` benches src/ instead, for a quick look
 * without a build.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type * as Parley from '../src/index.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let loaded: typeof Parley | undefined;
let origin = 'src (tsx)';

export async function loadParley(fromSource: boolean): Promise<string> {
  if (fromSource) {
    loaded = await import('../src/index.ts');
    origin = 'src (tsx)';
    return origin;
  }
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed (use --from-source to bench src/):\n${build.stderr}`);
  // A computed specifier: type-checking must not need dist/ to exist.
  const entry = new URL('../dist/src/index.js', import.meta.url).href;
  loaded = (await import(entry)) as typeof Parley;
  origin = 'dist (tsc)';
  return origin;
}

/** The parley module loadParley chose; scenarios call this when they run. */
export function parley(): typeof Parley {
  if (!loaded) throw new Error('loadParley() must run before a parley contender opens');
  return loaded;
}

export function parleyOrigin(): string {
  return origin;
}
