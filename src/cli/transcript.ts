/** The chat's /save: the conversation as JSONL (one message a line) or Markdown. */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LocalError } from './exit-codes.ts';
import { userPath } from './paths.ts';
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

/** Why a transcript could not be written, in words that say what to do. */
function saveProblem(err: NodeJS.ErrnoException, path: string): string {
  switch (err.code) {
    case 'ENOENT':
      return `the directory ${dirname(path)} does not exist; create it first or save elsewhere`;
    case 'ENOTDIR':
      return `a part of ${dirname(path)} is a file, not a directory`;
    case 'EISDIR':
      return `${path} is a directory; name a file in it, e.g. ${join(path, 'chat.md')}`;
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return `no permission to write ${path}`;
    default:
      return err.message;
  }
}

/** Writes the transcript to `path` (`~` expanded); the path written to is returned with the format. */
export async function saveTranscript(
  path: string,
  messages: readonly Message[],
  meta: { provider: string; model: string },
): Promise<{ format: TranscriptFormat; path: string }> {
  const target = userPath(path);
  const format = formatFor(target);
  try {
    await writeFile(target, renderTranscript(messages, format, meta), 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code !== 'string') throw err;
    throw new LocalError(e.code, `cannot save to ${target}: ${saveProblem(e, target)}`, { cause: err });
  }
  return { format, path: target };
}
