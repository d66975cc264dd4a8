/**
 * The command line: which command, which flags. `serve` and `bench` hand
 * their flags on untouched to the programs they run.
 */
import { parseArgs } from 'node:util';
import type { TurnControls } from '../index.ts';
import { UsageError } from './exit-codes.ts';
import { controlsFromFlags, REQUEST_FLAG_OPTIONS, REQUEST_FLAG_USAGE } from './request-flags.ts';

const COMMANDS = ['chat', 'ask', 'models', 'health', 'config', 'serve', 'bench', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

/** Flags that choose and configure the provider; every runtime command takes them. */
export interface ConfigFlags {
  provider?: string;
  model?: string;
  baseUrl?: string;
  kind?: string;
  timeoutMs?: number;
  system?: string;
  config?: string;
  /** --reasoning, --format, --schema, --extra: the request controls of chat's turns and ask's request. */
  controls?: TurnControls;
}

export interface CommandLine {
  command: Command;
  flags: ConfigFlags;
  json: boolean;
  debug: boolean;
  help: boolean;
  version: boolean;
  positionals: string[];
  /** ask: files given with --image, in order. */
  images: string[];
  /** serve and bench: their own flags, as given. */
  passThrough: string[];
}

export const USAGE = `usage: parley <command> [flags]

commands:
  chat                 interactive chat that streams replies (the default)
  ask "prompt"         one reply, streamed to stdout (reads stdin when no prompt);
                       --image PATH attaches an image or a PDF (repeatable)
  models               list the models of the provider (--json for JSON)
  health               probe every configured provider (--json for JSON)
  config               the configuration in effect, API keys redacted (--json)
  serve                run the embedded model server: [--port N] [--token-delay-ms N] [--fault JSON]
  bench [--quick]      run the benchmarks (from a checkout of the repository)
  help                 this text

flags:
  --provider NAME      provider to use (a name from the config file or the environment)
  --model NAME         model to use
  --base-url URL       endpoint of the provider (defines it when it is not configured)
  --kind KIND          ollama | openai | anthropic, for --base-url
  --timeout-ms N       deadline of every call
  --system TEXT        system message
  --config PATH        JSON config file (else $PARLEY_CONFIG, else ~/.config/parley/config.json)
${REQUEST_FLAG_USAGE}
  --json               machine-readable output (models, health, config, ask)
  --debug              stack traces on errors
  -h, --help           this text
  -v, --version        the version of parley

exit codes: 0 ok, 1 unexpected, 2 usage/CONFIG/INVALID_REQUEST, 3 UNREACHABLE/CONNECTION,
  4 HTTP/PROVIDER/BAD_RESPONSE/INCOMPLETE/TOO_LARGE/INVALID_OUTPUT, 5 TIMEOUT, 6 ABORTED/SHUTDOWN,
  7 WORKER_CRASHED/QUEUE_FULL, 8 a local file or port (ENOENT, EADDRINUSE, ...)`;

const OPTIONS = {
  provider: { type: 'string' },
  model: { type: 'string' },
  'base-url': { type: 'string' },
  kind: { type: 'string' },
  'timeout-ms': { type: 'string' },
  system: { type: 'string' },
  config: { type: 'string' },
  image: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  ...REQUEST_FLAG_OPTIONS,
} as const;

function isCommand(word: string | undefined): word is Command {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer (got ${JSON.stringify(value)})`);
  return n;
}

export function parseCommandLine(argv: readonly string[]): CommandLine {
  if (argv[0] === '--version' || argv[0] === '-v') return { command: 'help', flags: {}, json: false, debug: false, help: false, version: true, positionals: [], passThrough: [], images: [] };
  const first = argv.findIndex((arg) => !arg.startsWith('-'));
  const word = first === -1 ? undefined : argv[first];
  if (word !== undefined && !isCommand(word)) throw new UsageError(`unknown command "${word}"; try: parley help`);
  const command: Command = word ?? 'chat';
  const rest = first === -1 ? [...argv] : [...argv.slice(0, first), ...argv.slice(first + 1)];

  if (command === 'serve' || command === 'bench') {
    const passThrough = rest.filter((arg) => arg !== '--debug');
    return {
      command,
      flags: {},
      json: false,
      debug: passThrough.length !== rest.length,
      help: passThrough.includes('--help') || passThrough.includes('-h'),
      version: false,
      positionals: [],
      images: [],
      passThrough: command === 'serve' ? passThrough.map((arg) => arg.replace(/^--faults(?==|$)/, '--fault')) : passThrough,
    };
  }

  const { values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  const images = values.image ?? [];
  if (command !== 'ask' && images.length > 0) throw new UsageError(`--image is for "ask"; in a chat, type /image PATH`);
  if (command !== 'ask' && positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}" for "${command}"; try: parley help`);
  }
  // A chat's output is a conversation, not one document; ask --json gives one turn's ChatResult.
  if (command === 'chat' && values.json === true) {
    throw new UsageError('chat has no --json output; for one reply as JSON use: parley ask --json "prompt"');
  }
  const flags: ConfigFlags = {};
  if (values.provider !== undefined) flags.provider = values.provider;
  if (values.model !== undefined) flags.model = values.model;
  if (values['base-url'] !== undefined) flags.baseUrl = values['base-url'];
  if (values.kind !== undefined) flags.kind = values.kind;
  const timeoutMs = positiveInteger('--timeout-ms', values['timeout-ms']);
  if (timeoutMs !== undefined) flags.timeoutMs = timeoutMs;
  if (values.system !== undefined) flags.system = values.system;
  if (values.config !== undefined) flags.config = values.config;
  const controls = controlsFromFlags(values);
  if (Object.keys(controls).length > 0) flags.controls = controls;
  return {
    command,
    flags,
    json: values.json === true,
    debug: values.debug === true,
    help: values.help === true,
    version: values.version === true,
    positionals,
    images,
    passThrough: [],
  };
}
