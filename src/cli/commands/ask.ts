/** `parley ask "prompt"`: one reply, streamed to stdout; the exit code says how it went. */
import { colorsEnabled, createStyle } from '../colors.ts';
import type { CliConfig } from '../config.ts';
import { EXIT, UsageError, type ExitCode } from '../exit-codes.ts';
import { readAttachment, withAttachments } from '../attachment-file.ts';
import { renderReply } from '../render.ts';
import type { CliRuntime } from '../cli-runtime.ts';
import type { ChatRequest, Message } from '../../index.ts';

async function readStdin(input: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The prompt from the arguments, else from piped stdin. */
export async function askPrompt(positionals: readonly string[], input: NodeJS.ReadStream): Promise<string> {
  const prompt = positionals.length > 0 ? positionals.join(' ') : input.isTTY ? '' : await readStdin(input);
  if (prompt.trim() === '') throw new UsageError('ask needs a prompt, e.g. parley ask "why is the sky blue?"');
  return prompt.trim();
}

export async function runAsk(
  cli: CliRuntime,
  config: CliConfig,
  prompt: string,
  io: { output: NodeJS.WriteStream; json: boolean },
  images: readonly string[] = [],
): Promise<ExitCode> {
  const messages: Message[] = [];
  if (config.system !== undefined) messages.push({ role: 'system', content: config.system });
  const attachments = await Promise.all(images.map(readAttachment));
  messages.push({ role: 'user', content: withAttachments(prompt, attachments) });
  const request: ChatRequest = { provider: config.provider, model: config.model, messages, ...config.controls };
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  try {
    if (io.json) {
      io.output.write(`${JSON.stringify(await cli.runtime.chat(request, { signal: controller.signal }), null, 2)}\n`);
    } else {
      await renderReply(cli.runtime.stream(request, { signal: controller.signal }), {
        write: (text) => io.output.write(text),
        style: createStyle(colorsEnabled(io.output)),
        verbose: io.output.isTTY === true,
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
  }
  return EXIT.OK;
}
