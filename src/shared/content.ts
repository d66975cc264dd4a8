/**
 * Reading a message's content, which is a string or an array of parts.
 * Pure: used on both threads.
 */
import type { ContentPart, Message } from './types.ts';

/** The text of a message: the string, or its text parts joined with '\n'. */
export function contentText(content: Message['content']): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) {
    if (part.type !== 'text') continue;
    text = text === '' ? part.text : `${text}\n${part.text}`;
  }
  return text;
}

/**
 * A JSON.stringify replacer that shows a part's bytes as their size, so
 * recording or logging messages never serialises megabytes of image data.
 */
export function omitPartBytes(this: unknown, key: string, value: unknown): unknown {
  if (key !== 'data') return value;
  if (value instanceof Uint8Array || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  const holder = this as { type?: unknown } | null;
  if (typeof value === 'string' && (holder?.type === 'image' || holder?.type === 'document')) return `[base64, ${value.length} chars]`;
  return value;
}

/** The image and document parts of a message (none for a string). */
export function binaryParts(content: Message['content']): Exclude<ContentPart, { type: 'text' }>[] {
  if (typeof content === 'string') return [];
  return content.filter((part): part is Exclude<ContentPart, { type: 'text' }> => part.type !== 'text');
}
