/** `parley serve`: the embedded model server on its own, until Ctrl-C or SIGTERM. */
import { once } from 'node:events';
import { runServe, SERVE_USAGE } from '../../testing/index.ts';
import { EXIT, LocalError, UsageError, type ExitCode } from '../exit-codes.ts';

export async function runServeCommand(argv: readonly string[], help: boolean): Promise<ExitCode> {
  if (help) {
    process.stdout.write(`${SERVE_USAGE.replace('usage: serve', 'usage: parley serve')}\n  (--faults is accepted for --fault)\n`);
    return EXIT.OK;
  }
  let server;
  try {
    server = await runServe(argv);
  } catch (err) {
    // parseServeArgs reports bad flags as TypeErrors that name the flag.
    if (err instanceof TypeError) throw new UsageError(err.message);
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
    if (e.code === 'EADDRINUSE') {
      throw new LocalError(e.code, `port ${e.port ?? '?'} on ${e.address ?? 'this host'} is in use (by another parley serve, Ollama, ...); choose another with --port N, or --port 0 for any free one`, { cause: err });
    }
    if (e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      const why = e.code === 'EACCES' ? 'needs privileges (ports below 1024 do)' : 'names an address this machine does not have';
      throw new LocalError(e.code, `cannot listen on ${e.address ?? '?'}:${e.port ?? '?'}: it ${why}; try --port 0 or --host 127.0.0.1`, { cause: err });
    }
    throw err;
  }
  // runServe closes the server on a signal; waiting for that here keeps the exit code ours.
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await server.close();
  return EXIT.OK;
}
