/**
 * Where the worker entry files are, from source under tsx and from compiled
 * JS alike: the entry sits at the same relative place with the same file
 * extension as this module. Node 20 does not apply `--import tsx` inside
 * worker threads, so a .ts entry is started through a small JS bootstrap
 * that registers tsx first.
 */
import { fileURLToPath } from 'node:url';

const fromSource = import.meta.url.endsWith('.ts');

export interface WorkerScript {
  filename: string;
  argv: string[];
}

export function workerScript(name: 'provider-actor' | 'provider-task'): WorkerScript {
  const entry = new URL(`../workers/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url);
  if (!fromSource) return { filename: fileURLToPath(entry), argv: [] };
  return { filename: fileURLToPath(new URL('../workers/tsx-bootstrap.mjs', import.meta.url)), argv: [entry.href] };
}

/** Flags for a worker thread: the parent's (minus debugger and profiler flags), then the host's own. */
export function workerExecArgv(extra: readonly string[]): string[] {
  const inherited = process.execArgv.filter(
    (arg) => !arg.startsWith('--inspect') && !arg.startsWith('--cpu-prof') && !arg.startsWith('--heap-prof'),
  );
  return [...inherited, ...extra];
}
