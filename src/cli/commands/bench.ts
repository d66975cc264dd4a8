/**
 * `parley bench`: runs bench/run.ts from a checkout of the repository, with
 * tsx, passing the flags on. Installed packages do not ship the benchmarks.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, type ExitCode } from '../exit-codes.ts';

/** The directory holding parley's package.json, from source (src/cli/commands) or compiled (dist/src/cli/commands). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

export async function runBench(argv: readonly string[], errors: NodeJS.WriteStream): Promise<ExitCode> {
  const root = packageRoot();
  const script = root && join(root, 'bench', 'run.ts');
  if (!root || !script || !existsSync(script)) {
    errors.write('error [USAGE]: bench/run.ts is not here; the benchmarks run from a checkout of the parley repository (npm run bench)\n');
    return EXIT.USAGE;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...argv], { cwd: root, stdio: 'inherit' });
  // Ctrl-C reaches the child through the process group; the parent only waits for it.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve([c, s]));
    });
    if (signal) return EXIT.ABORTED;
    return (code ?? EXIT.UNEXPECTED) as ExitCode;
  } finally {
    process.off('SIGINT', ignore);
  }
}
