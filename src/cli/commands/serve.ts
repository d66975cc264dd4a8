/** `parley serve`: the embedded model server on its own, until Ctrl-C or SIGTERM. */
import { once } from 'node:events';
import { runServe, SERVE_USAGE } from '../../testing/index.ts';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.ts';

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
    throw err;
  }
  // runServe closes the server on a signal; waiting for that here keeps the exit code ours.
  await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
  await server.close();
  return EXIT.OK;
}
