/**
 * The worker thread settings checked at the door: Node refuses some flags
 * in a worker's execArgv (per-process ones such as --expose-gc, and unknown
 * ones), V8 takes nonsense resource limits without complaint, and a worker
 * entry that is not there (a bundle, an asar archive) fails only in the
 * thread: each time the worker dies at start and is restarted until the
 * restart intensity is spent. All give CONFIG at createRuntime instead.
 */
import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';
import { unknownKey } from '../shared/known-keys.ts';
import { runsFromSource, shippedWorkerEntry } from './transport/worker-entry.ts';

/** Each limit's least value (MB) a provider worker can start with; none has a useful upper bound to check. */
const LIMIT_FLOORS: Record<keyof ResourceLimits, number> = {
  maxOldGenerationSizeMb: 16,
  maxYoungGenerationSizeMb: 1,
  codeRangeSizeMb: 1,
  stackSizeMb: 1,
};
const LIMIT_KEYS: ReadonlySet<string> = new Set(Object.keys(LIMIT_FLOORS));

/** Flags whose value is a module to load: Node checks the flag, and loading is the worker's own business. */
const MODULE_FLAGS: ReadonlySet<string> = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

function fail(message: string): never {
  throw new ParleyError('CONFIG', message);
}

export function checkResourceLimits(value: unknown): ResourceLimits | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('options.resourceLimits must be an object (see worker_threads ResourceLimits)');
  const unknown = unknownKey(value, LIMIT_KEYS, 'options.resourceLimits', 'a worker resource limit');
  if (unknown) fail(unknown);
  const limits = value as Record<keyof ResourceLimits, unknown>;
  const out: ResourceLimits = {};
  for (const key of Object.keys(LIMIT_FLOORS) as (keyof ResourceLimits)[]) {
    const v = limits[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < LIMIT_FLOORS[key]) {
      fail(`options.resourceLimits.${key} must be a number of MB, at least ${LIMIT_FLOORS[key]} (got ${typeof v === 'number' ? v : typeof v})`);
    }
    out[key] = v;
  }
  return out;
}

/**
 * Node checks a worker's execArgv synchronously, before the thread runs any
 * code; a throwaway thread with the same flags (less the modules to load,
 * which would run there) is the one check that agrees with Node on every
 * version. It is terminated at once.
 */
export function checkWorkerExecArgv(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((a) => typeof a !== 'string')) fail('options.workerExecArgv must be an array of strings');
  const argv = value as string[];
  const flags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (MODULE_FLAGS.has(arg)) {
      if (i + 1 >= argv.length) fail(`options.workerExecArgv: ${arg} needs a module after it`);
      i++;
    } else if (!MODULE_FLAGS.has(arg.split('=')[0]!)) {
      flags.push(arg);
    }
  }
  if (flags.length === 0) return [...argv];
  let probe: Worker;
  try {
    probe = new Worker('', { eval: true, execArgv: flags, stdout: true, stderr: true });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ERR_WORKER_INVALID_EXEC_ARGV') {
      fail(`options.workerExecArgv holds flags Node refuses in a worker thread (${(err as Error).message.replace(/^.*?flags:\s*/, '')}); per-process flags go on the host's own command line`);
    }
    throw err;
  }
  probe.unref();
  void probe.terminate();
  return [...argv];
}

const BUNDLE_HINT = 'inside a bundle, emit parley/worker as its own entry and name that file in options.workerEntry (README, "Packaging")';

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * A path inside an Electron asar archive: the same file under
 * `<archive>.asar.unpacked` (electron-builder's asarUnpack, Electron Forge's
 * unpack) is taken when it is there. Worker threads of older Electron
 * versions cannot load from an archive at all (electron/electron#22446;
 * support came with electron/electron#33216), so the unpacked copy is the
 * safe one; without it the path is used as it is.
 */
function outsideAsar(path: string): string {
  const marker = `.asar${sep}`;
  const at = path.indexOf(marker);
  if (at < 0) return path;
  const unpacked = `${path.slice(0, at)}.asar.unpacked${sep}${path.slice(at + marker.length)}`;
  return isFile(unpacked) ? unpacked : path;
}

/**
 * options.workerEntry: a path (relative to process.cwd()) or a file: URL of
 * the worker entry, as an absolute path; undefined for parley's own, which is
 * checked too where it can be known (the compiled package).
 */
export function checkWorkerEntry(value: unknown): string | undefined {
  const field = 'options.workerEntry';
  if (value === undefined) {
    const shipped = shippedWorkerEntry();
    if (shipped === undefined) {
      if (runsFromSource()) return undefined;
      fail(`${field} is required where parley is bundled as CommonJS: ${BUNDLE_HINT}`);
    }
    if (!isFile(shipped)) fail(`${field}: parley's worker entry is not at ${shipped}; ${BUNDLE_HINT}`);
    const unpacked = outsideAsar(shipped);
    return unpacked === shipped ? undefined : unpacked;
  }
  let path: string;
  if (value instanceof URL || (typeof value === 'string' && value.startsWith('file:'))) {
    try {
      path = fileURLToPath(value);
    } catch (err) {
      // Node's reason, not the URL: a URL may carry credentials.
      fail(`${field} must be a file path or a file: URL of a local file (${(err as Error).message})`);
    }
  } else if (typeof value === 'string' && value.length > 0) {
    path = resolve(value);
  } else {
    fail(`${field} must be a file path or a file: URL of parley's worker entry (got ${value === '' ? 'an empty string' : typeof value})`);
  }
  if (!isFile(path)) fail(`${field}: no file at ${path}`);
  return outsideAsar(path);
}

/*
 * workerNice stays 0 by default, by measurement. The bench's realistic-host
 * scenario (64 streams at 20 ms per token while the host renders 16 ms
 * frames with 10 ms of work), frame jitter p99 with nice 5 vs 0 in the same
 * runs: better under heavy machine load (13.1 vs 18.2 ms at load 10; 82 vs
 * 142 and 37 vs 57 ms at load 22; 39 vs 61 ms at load 10-12), worse under
 * light load (5.0 vs 3.9 ms at load 5-8; 2.4 vs 1.6 ms, quick run), and it
 * cost stream throughput at saturation (stream c=16: 0.59x vs 0.73x of
 * in-process undici, same run). A niced worker also yields to every other
 * process: at load 34 one run lost a worker to missed heartbeats. UI hosts
 * on busy machines can still ask for it.
 */
