/**
 * `parley chat`: one conversation, read line by line with node:readline.
 * On a terminal: a prompt, colors, a spinner, and Ctrl-C that cancels the
 * reply in progress rather than the program. Piped: each input line is one
 * turn, replies go to stdout one after another, and the exit code tells
 * whether any turn failed.
 */
import { createInterface } from 'node:readline';
import { hasCode } from '../index.ts';
import { colorsEnabled, createStyle } from './colors.ts';
import { withAttachments } from './attachment-file.ts';
import { isSlashCommand, runSlashCommand, type ChatContext } from './chat-commands.ts';
import type { CliConfig } from './config.ts';
import { describeError, EXIT, exitCodeOf, type ExitCode } from './exit-codes.ts';
import { renderReply } from './render.ts';
import type { CliRuntime } from './cli-runtime.ts';

/** Two Ctrl-C at an empty prompt within this window quit. */
const DOUBLE_CTRL_C_MS = 2_000;

export interface ChatIO {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
  errors: NodeJS.WriteStream;
  debug: boolean;
}

export async function runChat(cli: CliRuntime, config: CliConfig, io: ChatIO): Promise<ExitCode> {
  const interactive = io.input.isTTY === true;
  const terminal = interactive && io.output.isTTY === true;
  const style = createStyle(colorsEnabled(io.output));
  const errorStyle = createStyle(colorsEnabled(io.errors));
  const init: Parameters<CliRuntime['runtime']['conversation']>[0] = { provider: config.provider, model: config.model };
  if (config.system !== undefined) init.system = config.system;
  Object.assign(init, config.controls);
  const conversation = await cli.runtime.conversation(init);

  const rl = createInterface({
    input: io.input,
    output: terminal ? io.output : undefined,
    terminal,
    prompt: style.bold(style.cyan('you › ')),
    historySize: terminal ? 100 : 0,
  });
  const ctx: ChatContext = {
    conversation,
    cli,
    style,
    print: (text) => (interactive ? io.output : io.errors).write(`${text}\n`),
    notice: (text) => (interactive ? io.output.write(`${style.dim(text)}\n`) : io.errors.write(`${text}\n`)),
    attachments: [],
  };
  const reportError = (err: unknown) => io.errors.write(`${errorStyle.red(describeError(err, io.debug))}\n`);

  let current: AbortController | undefined;
  let lastFailure: unknown;
  let interrupted = false;
  let lastCtrlC = 0;

  // On a terminal readline turns Ctrl-C into this event (raw mode).
  rl.on('SIGINT', () => {
    if (current) {
      current.abort();
      return;
    }
    if (rl.line.length > 0) {
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
      return;
    }
    const now = Date.now();
    if (now - lastCtrlC < DOUBLE_CTRL_C_MS) {
      io.output.write('\n');
      rl.close();
      return;
    }
    lastCtrlC = now;
    io.output.write(`\n${style.dim('(to exit, press Ctrl-C again, Ctrl-D, or type /exit)')}\n`);
    rl.prompt();
  });
  // Piped input: a signal from outside stops the reply and the chat at once; no later line is sent.
  const onSignal = () => {
    interrupted = true;
    current?.abort();
    rl.close();
  };
  if (!interactive) process.once('SIGINT', onSignal);

  if (interactive) {
    const where = config.embedded ? `${cli.provider} (embedded model server)` : cli.provider;
    io.output.write(`${style.bold('parley chat')} ${style.dim(`· provider ${where} · model ${config.model}`)}\n`);
    io.output.write(`${style.dim('Type a message. /help lists commands; Ctrl-C cancels a reply; Ctrl-D quits.')}\n`);
  }

  try {
    rl.prompt();
    for await (const raw of rl) {
      // readline hands over lines it had already read even after close(): a stopped chat sends none of them.
      if (interrupted) break;
      const line = raw.trim();
      if (line !== '') {
        if (isSlashCommand(line)) {
          try {
            if ((await runSlashCommand(line, ctx)) === 'exit') break;
          } catch (err) {
            lastFailure = err;
            reportError(err);
          }
        } else {
          const controller = new AbortController();
          current = controller;
          const started = performance.now();
          try {
            const input = withAttachments(line, ctx.attachments.splice(0));
            const result = await renderReply(conversation.stream(input, { signal: controller.signal }), {
              write: (text) => io.output.write(text),
              style,
              verbose: interactive,
              prefix: interactive ? style.bold(style.green(`${conversation.model} › `)) : '',
            });
            if (interactive) {
              const tokens = result.usage?.outputTokens !== undefined ? ` · ${result.usage.outputTokens} tokens` : '';
              io.output.write(`${style.dim(`(${result.provider}/${result.model}${tokens} · ${((performance.now() - started) / 1000).toFixed(1)} s)`)}\n`);
            }
          } catch (err) {
            if (controller.signal.aborted && hasCode(err, 'ABORTED')) {
              if (interactive) ctx.notice('(cancelled)');
            } else {
              lastFailure = err;
              reportError(err);
            }
          } finally {
            current = undefined;
          }
        }
      }
      if (interrupted) break;
      rl.prompt();
    }
  } finally {
    process.off('SIGINT', onSignal);
    rl.close();
    await conversation.close();
  }
  if (interrupted) return EXIT.ABORTED;
  if (!interactive && lastFailure !== undefined) return exitCodeOf(lastFailure);
  return EXIT.OK;
}

