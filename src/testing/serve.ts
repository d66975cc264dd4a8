/**
 * The model server as a standalone process:
 *   tsx src/testing/serve.ts --port 11434 [--token-delay-ms 20] [--fault '<json>']
 * parseServeArgs/runServe are exported so the CLI's `serve` command reuses them.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startModelServer, type ModelServer } from './model-server.ts';
import { parseFault, type ModelServerOptions } from './options.ts';

export const SERVE_USAGE = `usage: serve [--port N] [--host H] [--token-delay-ms N] [--max-tokens N] [--fill-to-max-tokens]
             [--models a,b] [--reasoning] [--refusal] [--content-arrays] [--tools auto|never] [--fault '<json>']
             [--keep-alive-timeout-ms N] [--close-after-requests N]
             [--invalid-json] [--reasoning-models a,b] [--refuse-stream-options 400|422]`;

function integer(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(n) || n < 0) {
    throw new TypeError(`${flag} must be a non-negative integer (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** Turns command-line flags into options; `--flag value` and `--flag=value` both work. Throws a TypeError naming the flag. */
export function parseServeArgs(argv: readonly string[]): ModelServerOptions {
  const options: ModelServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--port':
        options.port = integer(flag, value());
        break;
      case '--host':
        options.host = value();
        break;
      case '--token-delay-ms':
        options.tokenDelayMs = integer(flag, value());
        break;
      case '--max-tokens':
        options.maxTokens = integer(flag, value());
        break;
      case '--models':
        options.models = (value() ?? '').split(',').map((m) => m.trim()).filter(Boolean);
        break;
      case '--fill-to-max-tokens':
        options.fillToMaxTokens = inline === undefined ? true : inline !== 'false';
        break;
      case '--reasoning':
        options.reasoning = inline === undefined ? true : inline !== 'false';
        break;
      case '--refusal':
        options.refusal = inline === undefined ? true : inline !== 'false';
        break;
      case '--content-arrays':
        options.contentArrays = inline === undefined ? true : inline !== 'false';
        break;
      case '--tools': {
        const v = value();
        if (v !== 'auto' && v !== 'never') throw new TypeError(`--tools must be auto or never (got ${JSON.stringify(v)})`);
        options.tools = v;
        break;
      }
      case '--fault':
        options.fault = parseFault(value() ?? '', '--fault');
        break;
      case '--keep-alive-timeout-ms':
        options.keepAliveTimeoutMs = integer(flag, value());
        break;
      case '--close-after-requests':
        options.closeAfterRequests = integer(flag, value());
        break;
      case '--invalid-json':
        options.invalidJson = inline === undefined ? true : inline !== 'false';
        break;
      case '--reasoning-models':
        options.reasoningModels = (value() ?? '').split(',').map((m) => m.trim()).filter(Boolean);
        break;
      case '--refuse-stream-options': {
        const status = value();
        if (status !== '400' && status !== '422') throw new TypeError(`--refuse-stream-options must be 400 or 422 (got ${JSON.stringify(status)})`);
        options.refuseStreamOptions = Number(status) as 400 | 422;
        break;
      }
      default:
        throw new TypeError(`unknown option ${JSON.stringify(arg)}\n${SERVE_USAGE}`);
    }
  }
  return options;
}

/**
 * Starts a server from command-line flags, prints where it listens and
 * closes it on SIGINT/SIGTERM; its close() also removes those handlers.
 */
export async function runServe(argv: readonly string[], log: (line: string) => void = console.log): Promise<ModelServer> {
  const server = await startModelServer(parseServeArgs(argv));
  const close = server.close.bind(server);
  const stop = () => void server.close().then(() => log('parley model server closed'));
  // Closing by hand must also drop the signal handlers, or a CLI that reuses runServe keeps them forever.
  Object.defineProperty(server, 'close', {
    value: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      return close();
    },
  });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log(`parley model server listening on ${server.url}`);
  return server;
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    const here = fileURLToPath(import.meta.url);
    // Bundled into a host, this module's URL is the bundle's: only serve.js itself is the serve command.
    if (!/[\\/]serve\.[jt]s$/.test(here)) return false;
    return realpathSync(entry) === realpathSync(here);
  } catch {
    return false;
  }
}

if (isMain()) {
  runServe(process.argv.slice(2)).catch((err: unknown) => {
    console.error((err as Error).message);
    process.exitCode = 2;
  });
}
