/** The chat's slash commands. Each one either acts and continues, or ends the chat. */
import type { ContentPart, Conversation } from '../index.ts';
import { readAttachment } from './attachment-file.ts';
import type { Style } from './colors.ts';
import { UsageError } from './exit-codes.ts';
import { formatModels, formatStats } from './reports.ts';
import type { CliRuntime } from './cli-runtime.ts';
import { saveTranscript } from './transcript.ts';

export interface ChatContext {
  conversation: Conversation;
  cli: CliRuntime;
  /** Output the user asked for (lists, stats, help): stdout on a terminal, stderr when piped, so stdout holds only replies. */
  print(text: string): void;
  /** Confirmations: stdout on a terminal, stderr when piped, so replies stay clean. */
  notice(text: string): void;
  style: Style;
  /** Files attached with /image, sent with the next message, then cleared. */
  attachments: ContentPart[];
}

export type Outcome = 'continue' | 'exit';

export const CHAT_HELP = `commands:
  /reset           forget the conversation (keeps the system message)
  /model NAME      switch model (no NAME: show the current one)
  /provider NAME   switch provider (no NAME: list them)
  /image PATH      attach an image (png, jpg, gif, webp) or a PDF to the next message
  /save PATH       write the transcript: .md for Markdown, anything else JSONL (~ is your home)
  /models          list the provider's models
  /stats           runtime statistics
  /help            this text
  /exit            quit (also Ctrl-D, or Ctrl-C twice at an empty prompt)
Ctrl-C while a reply streams cancels that reply.`;

function currentProvider(ctx: ChatContext): string {
  const provider = ctx.conversation.provider;
  return Array.isArray(provider) ? provider.join(',') : (provider ?? ctx.cli.provider);
}

type Handler = (arg: string, ctx: ChatContext) => Promise<Outcome | void> | Outcome | void;

const HANDLERS: Record<string, Handler> = {
  async reset(_arg, ctx) {
    await ctx.conversation.reset();
    ctx.notice('(conversation reset)');
  },
  model(arg, ctx) {
    if (arg) ctx.conversation.setModel(arg);
    ctx.notice(`(model: ${ctx.conversation.model})`);
  },
  provider(arg, ctx) {
    const names = Object.keys(ctx.cli.providers);
    if (!arg) {
      ctx.print(names.map((n) => `${n === currentProvider(ctx) ? '*' : ' '} ${n} (${ctx.cli.providers[n]!.kind})`).join('\n'));
      return;
    }
    const config = ctx.cli.providers[arg];
    if (!config) throw new UsageError(`provider "${arg}" is not configured; configured: ${names.join(', ')}`);
    ctx.conversation.setProvider(arg);
    if (config.defaultModel) ctx.conversation.setModel(config.defaultModel);
    ctx.notice(`(provider: ${arg}, model: ${ctx.conversation.model})`);
  },
  async image(arg, ctx) {
    if (!arg) throw new UsageError('/image needs a path, e.g. /image screenshot.png');
    const part = await readAttachment(arg);
    ctx.attachments.push(part);
    const size = part.type === 'text' ? 0 : (part.data as Uint8Array).byteLength;
    ctx.notice(`(attached ${arg}, ${size} bytes: it goes with your next message)`);
  },
  async save(arg, ctx) {
    if (!arg) throw new UsageError('/save needs a path, e.g. /save chat.jsonl or /save chat.md');
    const messages = ctx.conversation.messages;
    const saved = await saveTranscript(arg, messages, { provider: currentProvider(ctx), model: ctx.conversation.model });
    ctx.notice(`(saved ${messages.length} messages to ${saved.path} as ${saved.format === 'markdown' ? 'Markdown' : 'JSONL'})`);
  },
  async models(_arg, ctx) {
    const provider = currentProvider(ctx);
    ctx.print(formatModels(await ctx.cli.runtime.models(provider.split(',')[0]), provider));
  },
  async stats(_arg, ctx) {
    ctx.print(formatStats(await ctx.cli.runtime.stats()));
  },
  help(_arg, ctx) {
    ctx.print(CHAT_HELP);
  },
  exit: () => 'exit',
  quit: () => 'exit',
};

export function isSlashCommand(line: string): boolean {
  return /^\/[a-z]/i.test(line);
}

export async function runSlashCommand(line: string, ctx: ChatContext): Promise<Outcome> {
  const match = /^\/(\S+)\s*(.*)$/.exec(line.trim());
  const name = match?.[1]?.toLowerCase() ?? '';
  const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
  if (!handler) throw new UsageError(`unknown command /${name}; /help lists them`);
  return (await handler(match?.[2]?.trim() ?? '', ctx)) ?? 'continue';
}
