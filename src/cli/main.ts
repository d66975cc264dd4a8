#!/usr/bin/env node
/**
 * The `parley` command: parses the command line, resolves the configuration,
 * runs one command, and always shuts the runtime down before it exits. A
 * failure is one line on stderr and an exit code by class (see exit-codes.ts).
 */
import { parseCommandLine, USAGE, type CommandLine } from './args.ts';
import { runChat } from './chat-loop.ts';
import { askPrompt, runAsk } from './commands/ask.ts';
import { runBench } from './commands/bench.ts';
import { runConfig } from './commands/config-view.ts';
import { runHealth } from './commands/health.ts';
import { runModels } from './commands/models.ts';
import { runServeCommand } from './commands/serve.ts';
import { resolveConfig, type CliConfig } from './config.ts';
import { describeError, EXIT, exitCodeOf, type ExitCode } from './exit-codes.ts';
import { openCliRuntime, type CliRuntime } from './cli-runtime.ts';
import { cliVersion } from './version.ts';

/** If something still holds the event loop after shutdown, do not hang the shell. */
const EXIT_GRACE_MS = 3_000;

async function withCliRuntime(
  line: CommandLine,
  interactive: boolean,
  run: (cli: CliRuntime, config: CliConfig) => Promise<ExitCode>,
): Promise<ExitCode> {
  const config = resolveConfig(line.flags);
  const cli = await openCliRuntime(config, { interactive });
  try {
    return await run(cli, config);
  } finally {
    await cli.close();
  }
}

async function run(line: CommandLine): Promise<ExitCode> {
  if (line.version) {
    process.stdout.write(`parley ${cliVersion()}\n`);
    return EXIT.OK;
  }
  if (line.command === 'help' || (line.help && line.command !== 'serve' && line.command !== 'bench')) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  const io = { output: process.stdout, json: line.json };
  switch (line.command) {
    case 'serve':
      return runServeCommand(line.passThrough, line.help);
    case 'bench':
      return runBench(line.passThrough, process.stderr);
    case 'config':
      return runConfig(resolveConfig(line.flags), io);
    case 'ask': {
      const prompt = await askPrompt(line.positionals, process.stdin);
      return withCliRuntime(line, process.stdout.isTTY === true, (cli, config) => runAsk(cli, config, prompt, io, line.images));
    }
    case 'models':
      return withCliRuntime(line, false, (cli) => runModels(cli, io));
    case 'health':
      return withCliRuntime(line, false, (cli) => runHealth(cli, io));
    case 'chat': {
      const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
      return withCliRuntime(line, interactive, (cli, config) =>
        runChat(cli, config, { input: process.stdin, output: process.stdout, errors: process.stderr, debug: line.debug }),
      );
    }
  }
}

async function main(argv: readonly string[]): Promise<void> {
  // A closed pipe (`parley models | head -1`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.OK);
    throw err;
  });
  let debug = argv.includes('--debug');
  let code: ExitCode;
  try {
    const line = parseCommandLine(argv);
    debug = line.debug;
    code = await run(line);
  } catch (err) {
    process.stderr.write(`${describeError(err, debug)}\n`);
    code = exitCodeOf(err);
  }
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
}

await main(process.argv.slice(2));
