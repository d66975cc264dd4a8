/** A file named on the command line (`ask --image PATH`, `/image PATH`) as a content part. */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { ContentPart } from '../index.ts';
import { LocalError, UsageError } from './exit-codes.ts';
import { userPath } from './paths.ts';

const MEDIA_TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.pdf': 'application/pdf',
};

/** Reads the file; its extension gives the media type (a PDF becomes a document part). The runtime checks size and provider support. */
export async function readAttachment(path: string): Promise<ContentPart> {
  const mediaType = MEDIA_TYPES[extname(path).toLowerCase()];
  if (mediaType === undefined) {
    throw new UsageError(`${path}: not an image or PDF; supported: ${Object.keys(MEDIA_TYPES).join(' ')}`);
  }
  let data: Buffer;
  try {
    data = await readFile(userPath(path));
  } catch (err) {
    // A missing or unreadable file is the user's to fix, like /save's (exit 8), not a bug.
    const code = (err as NodeJS.ErrnoException).code;
    throw new LocalError(code ?? 'EIO', `cannot read ${path}: ${code ?? (err as Error).message}`, { cause: err });
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (mediaType === 'application/pdf') return { type: 'document', data: bytes, mediaType: 'application/pdf', name: path.split(/[\\/]/).at(-1)! };
  return { type: 'image', data: bytes, mediaType };
}

/** The text with the attachments after it, or the text alone. */
export function withAttachments(text: string, attachments: readonly ContentPart[]): string | ContentPart[] {
  return attachments.length === 0 ? text : [{ type: 'text', text }, ...attachments];
}
