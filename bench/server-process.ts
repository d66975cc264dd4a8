/**
 * The model server in a child process of its own, so its CPU time is not
 * charged to the client under test: started from src/testing/serve.ts with
 * instant tokens, its URL read from the line it prints, killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY = /parley model server listening on (http:\/\/\S+)/;
const START_TIMEOUT_MS = 20_000;

export function startServerProcess(extraArgs: string[] = []): Promise<ServerProcess> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/testing/serve.ts', '--port', '0', '--token-delay-ms', '0', '--fill-to-max-tokens', ...extraArgs],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Parent exits (error or Ctrl-C) must not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`model server did not start in ${START_TIMEOUT_MS} ms: ${err || out}`)), START_TIMEOUT_MS);
    function fail(error: Error) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(error);
    }
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const early = (code: number | null) => fail(new Error(`model server exited with ${code} before listening: ${err || out}`));
    child.once('exit', early);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = READY.exec(out);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', early);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      const url = match[1]!;
      resolve({
        url,
        port: Number(new URL(url).port),
        pid: child.pid!,
        async stop() {
          process.off('exit', killOnExit);
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const hard = setTimeout(() => child.kill('SIGKILL'), 3_000);
            await exited;
            clearTimeout(hard);
          }
        },
      });
    });
  });
}
