/**
 * Content parts at the door: their shape, media types and sizes, and whether
 * each provider of the route can take them. The bytes are never read or
 * copied here (no base64 pass on the host thread): a part keeps a reference
 * to the caller's `Uint8Array` / `ArrayBuffer`, which reaches the worker by
 * structured clone (a copy; the caller's bytes are never transferred or
 * detached) and is encoded there.
 */
import { ParleyError } from '../shared/errors.ts';
import type { ContentPart, Message, ProviderConfig } from '../shared/types.ts';
import type { RequestCopier } from './request-validation.ts';

/** Images: the formats all three protocols take (OpenAI, Anthropic and Ollama's vision models). */
export const IMAGE_MEDIA_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
export const DOCUMENT_MEDIA_TYPES: ReadonlySet<string> = new Set(['application/pdf']);
/** OpenAI's per-image limit; Anthropic's API is stricter (5 MB) and answers HTTP 400 itself past it. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Anthropic's whole-request limit, the tighter of the two that take PDFs. */
export const MAX_DOCUMENT_BYTES = 32 * 1024 * 1024;

const TEXT_KEYS: ReadonlySet<string> = new Set(['type', 'text']);
const IMAGE_KEYS: ReadonlySet<string> = new Set(['type', 'url', 'data', 'mediaType']);
const DOCUMENT_KEYS: ReadonlySet<string> = new Set(['type', 'url', 'data', 'mediaType', 'name']);
const URL_SCHEME = /^(https?:\/\/|data:)/i;

type Fields = Record<string, unknown>;

/** Standard base64 (RFC 4648 section 4), as every provider takes it. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Bytes the data holds: a base64 string is measured by its length, never decoded. */
function byteLength(data: unknown): number | undefined {
  if (data instanceof Uint8Array) return data.byteLength;
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (typeof data === 'string') return Math.floor((data.length * 3) / 4);
  return undefined;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function copyBinary(c: RequestCopier, part: Fields, at: string, kind: 'image' | 'document'): void {
  const hasUrl = part.url !== undefined;
  const hasData = part.data !== undefined;
  if (hasUrl === hasData) throw c.invalid(at, `${kind === 'image' ? 'an image' : 'a document'} part with either url or data`, part);
  const types = kind === 'image' ? IMAGE_MEDIA_TYPES : DOCUMENT_MEDIA_TYPES;
  const typeList = [...types].join(', ');
  if (hasUrl) {
    if (typeof part.url !== 'string' || !URL_SCHEME.test(part.url)) throw c.invalid(`${at}.url`, 'an http(s) or data: URL', part.url);
    if (part.mediaType !== undefined && !types.has(part.mediaType as string)) throw c.invalid(`${at}.mediaType`, `one of ${typeList}`, part.mediaType);
    return;
  }
  const size = byteLength(part.data);
  if (size === undefined) throw c.invalid(`${at}.data`, 'a Uint8Array, an ArrayBuffer or a base64 string', part.data);
  if (typeof part.data === 'string' && /^data:/i.test(part.data)) throw c.invalid(`${at}.data`, 'base64 without a data: prefix (or pass the data: URL as url)', part.data);
  // A scan, not a decode: the provider would answer a 400 for it, after the upload.
  if (typeof part.data === 'string' && !BASE64.test(part.data)) throw c.invalid(`${at}.data`, 'standard base64 (A-Z a-z 0-9 + /, = padding, no spaces)', part.data);
  if (size === 0) throw c.invalid(`${at}.data`, 'at least one byte', part.data);
  const max = kind === 'image' ? MAX_IMAGE_BYTES : MAX_DOCUMENT_BYTES;
  if (size > max) throw new ParleyError('INVALID_REQUEST', `${at}.data must be at most ${mib(max)} (got ${mib(size)})`);
  if (typeof part.mediaType !== 'string' || !types.has(part.mediaType)) throw c.invalid(`${at}.mediaType`, `one of ${typeList}`, part.mediaType);
}

function copyPart(c: RequestCopier, value: unknown, at: string, role: string): ContentPart {
  const type = c.shape(value, at) === 'object' ? c.read(value as Fields, 'type', `${at}.type`) : undefined;
  switch (type) {
    case 'text': {
      const part = c.fields(value, at, TEXT_KEYS, 'a text part field', 'a content part');
      if (typeof part.text !== 'string') throw c.invalid(`${at}.text`, 'a string', part.text);
      return part as unknown as ContentPart;
    }
    case 'image':
    case 'document': {
      if (role !== 'user') throw c.invalid(at, `a text part: ${type} parts go on user messages`, value);
      // fields() reads each key once and keeps the data reference as it is.
      const part = c.fields(value, at, type === 'image' ? IMAGE_KEYS : DOCUMENT_KEYS, `${type === 'image' ? 'an image' : 'a document'} part field`, 'a content part');
      copyBinary(c, part, at, type);
      if (part.name !== undefined && typeof part.name !== 'string') throw c.invalid(`${at}.name`, 'a string', part.name);
      return part as unknown as ContentPart;
    }
    default:
      if (c.shape(value, at) !== 'object') throw c.invalid(at, 'a content part: { type: "text" | "image" | "document", ... }', value);
      throw c.invalid(`${at}.type`, "'text', 'image' or 'document'", type);
  }
}

/** A message's content: a string, or a non-empty array of parts. */
export function copyContent(c: RequestCopier, value: unknown, field: string, role: string): string | ContentPart[] {
  if (typeof value === 'string') return value;
  if (c.shape(value, field) !== 'array') throw c.invalid(field, 'a string or an array of content parts', value);
  const items = c.items(value, field, 'an array of content parts');
  if (items.length === 0) throw c.invalid(field, 'a string or a non-empty array of content parts', value);
  return items.map((item, i) => copyPart(c, item, `${field}[${i}]`, role));
}

/**
 * Refuses parts `provider` cannot take, naming the part: Ollama takes images
 * as bytes (or data: URLs) only, and no documents. Ollama URL images are
 * refused rather than fetched, so a request never makes the worker fetch an
 * address it was handed (and never waits on a third server inside a call's
 * deadline).
 */
export function checkPartsFor(messages: readonly Message[], provider: string, config: ProviderConfig): void {
  if (config.kind !== 'ollama') return;
  messages.forEach((message, m) => {
    if (typeof message.content === 'string') return;
    message.content.forEach((part, p) => {
      const at = `request.messages[${m}].content[${p}]`;
      if (part.type === 'document') {
        throw new ParleyError('INVALID_REQUEST', `${at} is a document: provider "${provider}" (ollama) takes no document parts`, { provider });
      }
      if (part.type === 'image' && part.url !== undefined && !/^data:/i.test(part.url)) {
        throw new ParleyError('INVALID_REQUEST', `${at}.url: provider "${provider}" (ollama) takes images as bytes only; pass data (a Uint8Array, ArrayBuffer or base64) instead of a URL`, { provider });
      }
    });
  });
}
