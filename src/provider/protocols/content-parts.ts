/**
 * Image and document parts on the wire. Bytes arrive in the worker as the
 * caller's structured-clone copy and are base64-encoded here, never on the
 * host thread.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ContentPart, PartData } from '../../shared/types.ts';
import type { JsonObject } from './wire-format.ts';

export type BinaryPart = Exclude<ContentPart, { type: 'text' }>;

/** base64 of the part's bytes; a string is taken as base64 already. */
export function base64Of(data: PartData): string {
  if (typeof data === 'string') return data;
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** `data:` URLs split into media type and base64, or undefined for any other URL. */
export function parseDataUrl(url: string): { mediaType: string; base64: string } | undefined {
  const match = /^data:([^;,]+)(?:;[^;,]*)*;base64,/i.exec(url);
  return match === null ? undefined : { mediaType: match[1]!, base64: url.slice(match[0].length) };
}

/** The part as a `data:` URL (for OpenAI's image_url and file_data), or its own URL. */
export function partUrl(part: BinaryPart): string {
  if (part.url !== undefined) return part.url;
  return `data:${part.mediaType};base64,${base64Of(part.data!)}`;
}

/** The part's bytes as base64 with its media type, from `data` or a `data:` URL; undefined for an http(s) URL. */
export function partBase64(part: BinaryPart): { mediaType: string; base64: string } | undefined {
  if (part.data !== undefined) return { mediaType: part.mediaType ?? 'application/octet-stream', base64: base64Of(part.data) };
  return parseDataUrl(part.url ?? '');
}

/** OpenAI chat completions content parts (https://platform.openai.com/docs/api-reference/chat/create#chat-create-messages). */
export function openaiPart(part: ContentPart): JsonObject {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image_url', image_url: { url: partUrl(part) } };
    case 'document':
      // OpenRouter also takes a PDF's URL in file_data.
      return { type: 'file', file: { filename: part.name ?? 'document.pdf', file_data: partUrl(part) } };
  }
}

/** Anthropic image and document blocks (https://docs.anthropic.com/en/api/messages#body-messages-content). */
export function anthropicPart(part: ContentPart): JsonObject {
  if (part.type === 'text') return { type: 'text', text: part.text };
  const bytes = partBase64(part);
  const source = bytes === undefined ? { type: 'url', url: part.url } : { type: 'base64', media_type: bytes.mediaType, data: bytes.base64 };
  if (part.type === 'image') return { type: 'image', source };
  const block: JsonObject = { type: 'document', source };
  if (part.name !== undefined) block.title = part.name;
  return block;
}

/**
 * Ollama's `images` (base64 only, https://github.com/ollama/ollama/blob/main/docs/api.md#chat-request-with-images).
 * The door refuses URL images and documents for Ollama; this is the worker's backstop.
 */
export function ollamaImage(part: BinaryPart, field: string): string {
  const bytes = part.type === 'image' ? partBase64(part) : undefined;
  if (bytes === undefined) {
    throw new ParleyError('INVALID_REQUEST', `${field} cannot go to Ollama: it takes images as bytes only (no URLs, no documents)`);
  }
  return bytes.base64;
}
