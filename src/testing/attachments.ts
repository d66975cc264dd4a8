/**
 * Images and documents the model server receives. It reads each protocol's
 * own shape (its own code, not the client's), checks that the bytes are what
 * their media type says, and its reply names how many it saw and their sizes,
 * so a test can see exactly what crossed the wire.
 */

export interface Attachment {
  kind: 'image' | 'document';
  /** The declared media type, else the one the bytes show. */
  mediaType?: string;
  /** Decoded size, for bytes sent inline; undefined for a URL. */
  bytes?: number;
  url?: string;
}

/** What the first bytes say the file is. */
export function sniff(bytes: Buffer): string | undefined {
  if (bytes.length >= 4 && bytes[0] === 0x89 && bytes.toString('latin1', 1, 4) === 'PNG') return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length >= 4 && bytes.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  if (bytes.length >= 12 && bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (bytes.length >= 5 && bytes.toString('latin1', 0, 5) === '%PDF-') return 'application/pdf';
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * An inline attachment from base64, or the problem a provider would answer
 * with: invalid base64, or bytes that are not the declared media type
 * (Anthropic: "Image does not match the provided media type").
 */
export function inlineAttachment(kind: Attachment['kind'], declared: string | undefined, base64: string): Attachment | string {
  if (!BASE64.test(base64) || base64.length % 4 !== 0) return `the ${kind} data is not valid base64`;
  const bytes = Buffer.from(base64, 'base64');
  const actual = sniff(bytes);
  if (declared !== undefined && actual !== declared) return `${kind === 'image' ? 'Image' : 'Document'} does not match the provided media type ${declared}`;
  const attachment: Attachment = { kind, bytes: bytes.length };
  const mediaType = declared ?? actual;
  if (mediaType !== undefined) attachment.mediaType = mediaType;
  return attachment;
}

/** A `data:` URL's attachment, a URL's, or a problem. */
export function urlAttachment(kind: Attachment['kind'], url: string): Attachment | string {
  const match = /^data:([^;,]+)(?:;[^;,]*)*;base64,/i.exec(url);
  if (match === null) return { kind, url };
  return inlineAttachment(kind, match[1], url.slice(match[0].length));
}

/** "1 image (image/png, 5242880 bytes)", "2 images (…; a URL image)". */
export function describeAttachments(attachments: readonly Attachment[]): string {
  const parts: string[] = [];
  for (const kind of ['image', 'document'] as const) {
    const own = attachments.filter((a) => a.kind === kind);
    if (own.length === 0) continue;
    const each = own.map((a) => (a.url !== undefined ? `a URL ${kind} ${a.url}` : `${a.mediaType ?? 'unknown type'}, ${a.bytes} bytes`));
    parts.push(`${own.length} ${kind}${own.length === 1 ? '' : 's'} (${each.join('; ')})`);
  }
  return parts.join(' and ');
}
