/**
 * The bytes of a transcript's image and document parts live beside it,
 * content-addressed: `<transcript>.parts/<sha256 hex>`. The JSONL line keeps
 * only a reference, `{ "sha256": "…", "bytes": n }` in place of `data`, so a
 * transcript stays small and an image sent in many turns is stored once.
 * A side file is written (temp file, datasync, rename) before the line that
 * refers to it, so a line never points at a file that is not there.
 * Hashing runs on WebCrypto, off the host thread's loop.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ParleyError } from '../shared/errors.ts';
import type { ContentPart, Message, PartData } from '../shared/types.ts';

/** How a part's bytes are written in a transcript line. */
export interface PartRef {
  sha256: string;
  /** Size of the side file. */
  bytes: number;
  /** The caller gave base64 text: the side file holds that text, and it loads back as a string. */
  base64?: true;
}

type StoredPart = Omit<Exclude<ContentPart, { type: 'text' }>, 'data'> & { dataRef: PartRef };

export function partsDirectory(transcript: string): string {
  return `${transcript}.parts`;
}

function bytesOf(data: PartData): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'latin1');
  return data instanceof Uint8Array ? data : new Uint8Array(data);
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Buffer.from(digest).toString('hex');
}

async function exists(path: string, size: number): Promise<boolean> {
  try {
    return (await stat(path)).size === size;
  } catch {
    return false;
  }
}

async function writeSideFile(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.${randomUUID()}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/**
 * The messages as a transcript line holds them: each part with `data` gets a
 * `dataRef`, its bytes written to the side directory first. Messages without
 * such parts are returned as they are.
 */
export async function storeParts(transcript: string, messages: readonly Message[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const message of messages) {
    if (typeof message.content === 'string' || !message.content.some((p) => p.type !== 'text' && p.data !== undefined)) {
      out.push(message);
      continue;
    }
    const content: unknown[] = [];
    for (const part of message.content) {
      if (part.type === 'text' || part.data === undefined) {
        content.push(part);
        continue;
      }
      const bytes = bytesOf(part.data);
      const hex = await sha256(bytes);
      const dir = partsDirectory(transcript);
      const file = join(dir, hex);
      try {
        if (!(await exists(file, bytes.byteLength))) {
          await mkdir(dir, { recursive: true });
          await writeSideFile(file, bytes);
        }
      } catch (err) {
        throw new ParleyError('CONFIG', `could not write a part of transcript ${transcript} to ${file}: ${(err as Error).message}`, { cause: err });
      }
      const { data, ...rest } = part;
      const dataRef: PartRef = { sha256: hex, bytes: bytes.byteLength };
      if (typeof data === 'string') dataRef.base64 = true;
      content.push({ ...rest, dataRef } satisfies StoredPart);
    }
    out.push({ ...message, content });
  }
  return out;
}

function isRef(value: unknown): value is PartRef {
  const ref = value as PartRef | null;
  return typeof ref === 'object' && ref !== null && typeof ref.sha256 === 'string' && /^[0-9a-f]{64}$/.test(ref.sha256) && Number.isSafeInteger(ref.bytes);
}

/** True for a part as a transcript line may hold it: a content part, or a stored part with its dataRef. */
export function isStoredPart(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const part = value as Record<string, unknown>;
  if (part.type === 'text') return typeof part.text === 'string';
  if (part.type !== 'image' && part.type !== 'document') return false;
  return typeof part.url === 'string' || isRef(part.dataRef);
}

/** Reads the side files of loaded messages back into `data`, in place. CONFIG when one is missing or damaged. */
export async function loadParts(transcript: string, messages: Message[]): Promise<void> {
  for (const message of messages) {
    if (typeof message.content === 'string') continue;
    for (let i = 0; i < message.content.length; i++) {
      const stored = message.content[i] as unknown as Partial<StoredPart>;
      if (stored.dataRef === undefined) continue;
      const { dataRef, ...rest } = stored;
      const file = join(partsDirectory(transcript), dataRef.sha256);
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        throw new ParleyError('CONFIG', `transcript ${transcript} refers to a part file that cannot be read: ${file} (${(err as Error).message})`, { cause: err });
      }
      if (bytes.length !== dataRef.bytes) {
        throw new ParleyError('CONFIG', `transcript ${transcript}: part file ${file} holds ${bytes.length} bytes, the transcript says ${dataRef.bytes}`);
      }
      const data = dataRef.base64 ? bytes.toString('latin1') : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      message.content[i] = { ...rest, data } as ContentPart;
    }
  }
}
