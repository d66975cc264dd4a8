/** The chat's /save: the conversation as JSONL (one message a line) or Markdown. */
import { writeFile } from 'node:fs/promises';
import { contentText, omitPartBytes, type Message } from '../index.ts';

export type TranscriptFormat = 'jsonl' | 'markdown';

function formatFor(path: string): TranscriptFormat {
  return /\.(md|markdown)$/i.test(path) ? 'markdown' : 'jsonl';
}

function renderTranscript(messages: readonly Message[], format: TranscriptFormat, meta: { provider: string; model: string }): string {
  if (format === 'jsonl') return messages.map((m) => JSON.stringify(m, omitPartBytes)).join('\n') + (messages.length > 0 ? '\n' : '');
  const lines = [`# parley conversation`, '', `provider: ${meta.provider} · model: ${meta.model} · saved ${new Date().toISOString()}`, ''];
  for (const message of messages) {
    lines.push(`## ${message.role}`, '', contentText(message.content), '');
    if (typeof message.content !== 'string') for (const part of message.content) if (part.type !== 'text') lines.push(`[${part.type}${part.type === 'image' && part.url ? ` ${part.url}` : ''}]`, '');
    for (const call of message.toolCalls ?? []) lines.push(`tool call \`${call.name}\`: \`${call.arguments}\``, '');
  }
  return lines.join('\n');
}

export async function saveTranscript(path: string, messages: readonly Message[], meta: { provider: string; model: string }): Promise<TranscriptFormat> {
  const format = formatFor(path);
  await writeFile(path, renderTranscript(messages, format, meta), 'utf8');
  return format;
}
