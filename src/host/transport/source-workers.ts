/**
 * Worker entries when parley runs from its TypeScript source (its own tests,
 * `npm start`, the bench): the two entries are bundled once per process with
 * esbuild, the compiler tsx itself uses, into node_modules/.cache/parley/.
 * There is one entry, workers/provider-worker.ts, for both modes.
 *
 * Why not register tsx inside each worker: Node 20 ignores `--import tsx` in
 * a worker's execArgv, so every worker had to register tsx's loader itself,
 * which starts a loader thread and transforms every module again: about
 * 0.3 CPU-s and 200 ms per worker start, paid hundreds of times by the test
 * suites. A bundle loads like the compiled build does. The output sits under
 * the project's node_modules so the package it leaves external (undici)
 * resolves as it does from source.
 *
 * Compiled builds never load this file; esbuild is a devDependency.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Esbuild from 'esbuild';

type WorkerName = 'provider-worker';

// Found on first use, not at load: a host bundled as CommonJS has no import.meta.url, and never calls this.
let located: Location | undefined;
/** The bundle settings dist/ is built with (scripts/build.mjs says why): CommonJS, undici external and loaded with require(). */
const SETTINGS = 'scripts/worker-bundle.json';

interface Location {
  root: string;
  cacheDir: string;
  manifestPath: string;
  settings: Esbuild.BuildOptions;
}
let built: Record<WorkerName, string> | undefined;

function where(): Location {
  if (located) return located;
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const cacheDir = join(root, 'node_modules/.cache/parley');
  const settings = readFileSync(join(root, SETTINGS), 'utf8');
  // One manifest per checkout (git worktrees may share one node_modules) and
  // per bundle settings: bundles built with other settings are not current.
  const manifestPath = join(cacheDir, `manifest-${createHash('sha256').update(root).update(settings).digest('hex').slice(0, 12)}.json`);
  return (located = { root, cacheDir, manifestPath, settings: JSON.parse(settings) as Esbuild.BuildOptions });
}

/**
 * What the last build read (each input's size and mtime) and wrote. A process
 * whose sources still match reuses the bundles: a few dozen stat calls
 * instead of a build.
 */
interface Manifest {
  inputs: Record<string, string>;
  outputs: Record<WorkerName, string>;
}

/** The bundled entry's path; the first call of a process builds it (about 0.2 s) unless its bundle is still current. */
export function sourceWorkerEntry(): string {
  built ??= current() ?? bundle();
  return built['provider-worker'];
}

function fingerprint(path: string): string {
  try {
    const s = statSync(join(where().root, path));
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

function current(): Record<WorkerName, string> | undefined {
  try {
    const manifest = JSON.parse(readFileSync(where().manifestPath, 'utf8')) as Manifest;
    const fresh = Object.entries(manifest.inputs).every(([path, print]) => fingerprint(path) === print);
    return fresh && Object.values(manifest.outputs).every((p) => existsSync(p)) ? manifest.outputs : undefined;
  } catch {
    return undefined;
  }
}

/** Writes `contents` at `path` whole: readers in other processes never see it half-written. */
function writeWhole(path: string, contents: string | Uint8Array): void {
  const partial = `${path}.${process.pid}.partial`;
  writeFileSync(partial, contents);
  renameSync(partial, path);
}

function bundle(): Record<WorkerName, string> {
  const { root, cacheDir, manifestPath, settings } = where();
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof Esbuild;
  const names: WorkerName[] = ['provider-worker'];
  const result = esbuild.buildSync({
    ...settings,
    absWorkingDir: root,
    entryPoints: names.map((n) => `workers/${n}.ts`),
    sourcemap: 'inline',
    outdir: cacheDir,
    metafile: true,
    outExtension: { '.js': '.cjs' },
    write: false,
    logLevel: 'silent',
  });
  const paths = {} as Record<WorkerName, string>;
  for (const file of result.outputFiles) {
    const name = names.find((n) => file.path.endsWith(`${n}.cjs`));
    if (!name) continue;
    // Named by content: test processes running side by side share a file
    // they all agree on, and one written while another reads is never seen
    // half-written (it is renamed into place).
    const hash = createHash('sha256').update(file.contents).digest('hex').slice(0, 16);
    const path = file.path.replace(/\.cjs$/, `-${hash}.cjs`);
    mkdirSync(cacheDir, { recursive: true });
    if (!existsSync(path)) writeWhole(path, file.contents);
    paths[name] = path;
  }
  const inputs: Record<string, string> = {};
  for (const input of Object.keys(result.metafile.inputs)) inputs[input] = fingerprint(input);
  writeWhole(manifestPath, JSON.stringify({ inputs, outputs: paths } satisfies Manifest));
  return paths;
}
