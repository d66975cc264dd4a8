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
import { openSession, type Session } from './session.ts';

/** If something still holds the event loop after shutdown, do not hang the shell. */
const EXIT_GRACE_MS = 3_000;

async function withSession(
  line: CommandLine,
  interactive: boolean,
  run: (session: Session, config: CliConfig) => Promise<ExitCode>,
): Promise<ExitCode> {
  const config = resolveConfig(line.flags);
  const session = await openSession(config, { interactive });
  try {
    return await run(session, config);
  } finally {
    await session.close();
  }
}

async function run(line: CommandLine): Promise<ExitCode> {
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
      return withSession(line, process.stdout.isTTY === true, (session, config) => runAsk(session, config, prompt, io));
    }
    case 'models':
      return withSession(line, false, (session) => runModels(session, io));
    case 'health':
      return withSession(line, false, (session) => runHealth(session, io));
    case 'chat': {
      const interactive = process.stdin.isTTY === true && process.stdout.isTTY === true;
      return withSession(line, interactive, (session, config) =>
        runChat(session, config, { input: process.stdin, output: process.stdout, errors: process.stderr, debug: line.debug }),
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
