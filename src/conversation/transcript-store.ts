/**
 * A conversation's durable history: an append-only JSONL file.
 *
 *   {"type":"header","version":2,"created":"...","model":"...","system":"..."}
 *   {"type":"turn","messages":[{user}, {assistant}]}
 *   {"type":"reset"}
 *
 * Version 2 (parley 0.x with content parts) lets a message's content be an
 * array of parts; the bytes of image and document parts live beside the
 * transcript, content-addressed (transcript-parts.ts). Version 1 transcripts
 * are read as they are; a new store is written as version 2.
 *
 * Every record is one write() of the whole line, newline included, followed by
 * datasync before the append resolves. A crash can therefore only tear the last
 * line, which the next open drops (with a warning) and truncates away. Damage
 * anywhere else is refused, never skipped. One writer at a time, enforced by a
 * `<path>.lock` file holding the writer's pid (transcript-lock.ts).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ParleyError } from '../shared/errors.ts';
import { describeFsError } from './fs-errors.ts';
import { acquireLock, releaseLock } from './transcript-lock.ts';
import { isStoredPart, loadParts, storeParts } from './transcript-parts.ts';
import type { Message, Role } from '../shared/types.ts';

export interface TranscriptHeader {
  type: 'header';
  /** 1: text only; 2: content parts, with their bytes in `<path>.parts/`. */
  version: 1 | 2;
  /** ISO timestamp of the store's creation. */
  created: string;
  /** The model the conversation was created with. */
  model: string;
  system?: string;
}

export type TranscriptRecord =
  | TranscriptHeader
  /** `calibration`: the conversation's token-estimate correction after this turn, so a resume trims as well as before. */
  | { type: 'turn'; messages: Message[]; calibration?: number }
  | { type: 'reset' };

export interface TranscriptStoreOptions {
  /** Written to the header when the store is created. */
  model: string;
  system?: string;
  /** Told when a torn last line is dropped. @default process.emitWarning */
  onWarning?: (message: string) => void;
}

/** The version new transcripts are written in; older ones are still read. */
export const TRANSCRIPT_VERSION = 2;

const ROLES: ReadonlySet<Role> = new Set(['system', 'user', 'assistant', 'tool']);

function isMessage(value: unknown): value is Message {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as Record<string, unknown>;
  return (
    typeof m.role === 'string' &&
    ROLES.has(m.role as Role) &&
    (typeof m.content === 'string' || (Array.isArray(m.content) && m.content.length > 0 && m.content.every(isStoredPart))) &&
    (m.toolCalls === undefined || Array.isArray(m.toolCalls)) &&
    (m.reasoningBlocks === undefined || Array.isArray(m.reasoningBlocks)) &&
    (m.toolCallId === undefined || typeof m.toolCallId === 'string')
  );
}

/** The record a line holds, or a reason why it holds none. */
function parseRecord(line: string, isFirst: boolean): TranscriptRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'invalid JSON';
  }
  if (typeof value !== 'object' || value === null) return 'not a record';
  const record = value as Record<string, unknown>;
  if (isFirst) {
    if (record.type !== 'header') return 'the first line is not a parley transcript header';
    if (record.version !== 1 && record.version !== TRANSCRIPT_VERSION) return `unsupported transcript version ${JSON.stringify(record.version)}`;
    if (typeof record.model !== 'string') return 'the header has no model';
    return record as unknown as TranscriptHeader;
  }
  if (record.type === 'reset') return { type: 'reset' };
  if (record.type === 'turn') {
    if (!Array.isArray(record.messages) || !record.messages.every(isMessage)) return 'a turn with malformed messages';
    const calibration = record.calibration;
    return typeof calibration === 'number' && Number.isFinite(calibration) && calibration > 0
      ? { type: 'turn', messages: record.messages, calibration }
      : { type: 'turn', messages: record.messages };
  }
  return `unknown record type ${JSON.stringify(record.type)}`;
}

interface Loaded {
  header?: TranscriptHeader;
  messages: Message[];
  /** The newest calibration recorded with a turn. */
  calibration?: number;
  /** Length in bytes of the intact prefix; anything after it is a torn last line. */
  intactBytes: number;
  tornReason?: string;
}

const HEADER_PREFIX = Buffer.from('{"type":"header"');

/** A cut-short header is a prefix of what we write, or the zeros some filesystems leave after a crash. */
function isTornHeader(bytes: Buffer): boolean {
  const n = Math.min(bytes.length, HEADER_PREFIX.length);
  return bytes.subarray(0, n).equals(HEADER_PREFIX.subarray(0, n)) || bytes.every((b) => b === 0);
}

function parseTranscript(data: Buffer, path: string): Loaded {
  const loaded: Loaded = { messages: [], intactBytes: 0 };
  let start = 0;
  let lineNumber = 0;
  while (start < data.length) {
    lineNumber += 1;
    const newline = data.indexOf(0x0a, start);
    const end = newline === -1 ? data.length : newline;
    const isLast = newline === -1 || newline === data.length - 1;
    const result = parseRecord(data.toString('utf8', start, end), lineNumber === 1);
    if (typeof result === 'string' || newline === -1) {
      // Without an intact header this may not be a transcript at all: refuse to truncate someone else's file.
      const foreign = lineNumber === 1 && !isTornHeader(data.subarray(start, end));
      if (!isLast || foreign) {
        throw new ParleyError('CONFIG', `transcript ${path} is corrupt at line ${lineNumber}: ${result as string}; refusing to drop the lines after it`);
      }
      // A write cut short by a crash: the turn it held never completed, so it was never acknowledged.
      loaded.tornReason = `line ${lineNumber} ${newline === -1 ? 'has no trailing newline' : `holds ${result as string}`}`;
      break;
    }
    if (result.type === 'header') loaded.header = result;
    else if (result.type === 'reset') loaded.messages = [];
    else {
      loaded.messages.push(...result.messages);
      if (result.calibration !== undefined) loaded.calibration = result.calibration;
    }
    start = newline + 1;
    loaded.intactBytes = start;
  }
  return loaded;
}

async function readAll(handle: FileHandle): Promise<Buffer> {
  const { size } = await handle.stat();
  const data = Buffer.alloc(size);
  let offset = 0;
  while (offset < size) {
    const { bytesRead } = await handle.read(data, offset, size - offset, offset);
    if (bytesRead === 0) break;
    offset += bytesRead;
  }
  return data.subarray(0, offset);
}

/** Makes a newly created file's directory entry durable. Best effort: not every platform can fsync a directory. */
async function syncDirectory(path: string): Promise<void> {
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Windows and some filesystems refuse; the file's own data is still synced.
  }
}

export class TranscriptStore {
  readonly path: string;
  readonly header: TranscriptHeader;
  /** The history as loaded: every turn since the last reset. */
  readonly messages: readonly Message[];
  /** The token-estimate calibration stored with the newest turn, if any. */
  readonly calibration: number | undefined;

  #handle: FileHandle | undefined;
  #lockPath: string;
  /** Bytes known to be intact; a failed append is truncated back to this. */
  #size: number;
  #tail: Promise<void> = Promise.resolve();
  #broken: ParleyError | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    path: string,
    lockPath: string,
    handle: FileHandle,
    header: TranscriptHeader,
    loaded: { messages: Message[]; calibration?: number },
    size: number,
  ) {
    this.path = path;
    this.calibration = loaded.calibration;
    this.#lockPath = lockPath;
    this.#handle = handle;
    this.header = header;
    this.messages = loaded.messages;
    this.#size = size;
  }

  /**
   * Locks the store and loads it, creating it (with its header) when it is
   * missing or empty. Rejects with CONFIG, naming the path and the reason,
   * when another writer holds the lock, a line other than the last is
   * corrupt, or the file cannot be opened for appending (a directory, no
   * permission, a missing directory...).
   */
  static async open(path: string, options: TranscriptStoreOptions): Promise<TranscriptStore> {
    // Absolute, so that two spellings of one path are recognised as the same lock within this process.
    const lockPath = `${resolve(path)}.lock`;
    await acquireLock(path, lockPath);
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'a+');
      const loaded = parseTranscript(await readAll(handle), path);
      await loadParts(path, loaded.messages);
      let size = loaded.intactBytes;
      if (loaded.tornReason !== undefined) {
        (options.onWarning ?? ((message: string) => process.emitWarning(message, 'ParleyWarning')))(
          `transcript ${path}: dropped a torn last line (${loaded.tornReason}), left by a write that did not complete`,
        );
        await handle.truncate(size);
        await handle.datasync();
      }
      let header = loaded.header;
      if (!header) {
        header = { type: 'header', version: TRANSCRIPT_VERSION, created: new Date().toISOString(), model: options.model };
        if (options.system !== undefined) header.system = options.system;
        size = await writeLine(handle, header, path);
        await syncDirectory(path);
      }
      return new TranscriptStore(path, lockPath, handle, header, loaded, size);
    } catch (err) {
      await handle?.close().catch(() => {});
      await releaseLock(lockPath).catch(() => {});
      if (err instanceof ParleyError) throw err;
      throw new ParleyError('CONFIG', `cannot open transcript ${path}: ${describeFsError(err)}`, { cause: err });
    }
  }

  /** Appends one completed turn; resolves once it is on disk. */
  appendTurn(messages: readonly Message[], calibration?: number): Promise<void> {
    return this.#append(calibration === undefined ? { type: 'turn', messages: [...messages] } : { type: 'turn', messages: [...messages], calibration });
  }

  /** Appends a reset record, so that a resume starts with no turns. */
  appendReset(): Promise<void> {
    return this.#append({ type: 'reset' });
  }

  #append(record: TranscriptRecord): Promise<void> {
    const run = this.#tail.then(() => this.#write(record));
    this.#tail = run.catch(() => {});
    return run;
  }

  async #write(record: TranscriptRecord): Promise<void> {
    if (this.#broken) throw this.#broken;
    const handle = this.#handle;
    if (!handle) throw new ParleyError('CONFIG', `transcript ${this.path} is closed`);
    // Part bytes go to their side files first: a line never refers to a file not yet there.
    const line = record.type === 'turn' ? { ...record, messages: await storeParts(this.path, record.messages) } : record;
    try {
      this.#size += await writeLine(handle, line, this.path);
    } catch (err) {
      // Cut the partial line away so the next append does not follow garbage;
      // if that fails too, refuse further appends rather than corrupt the middle of the file.
      try {
        await handle.truncate(this.#size);
        await handle.datasync();
      } catch (truncateErr) {
        this.#broken = new ParleyError('CONFIG', `transcript ${this.path} could not be repaired after a failed write; reopen it`, {
          cause: truncateErr,
        });
      }
      throw err;
    }
  }

  /** Waits for pending appends, closes the file and removes the lock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#tail;
      const handle = this.#handle;
      this.#handle = undefined;
      try {
        await handle?.close();
      } finally {
        await releaseLock(this.#lockPath);
      }
    })();
    return this.#closing;
  }
}

/** Writes one record as one line with one write() (retrying only a short write), then datasyncs. Returns the bytes written. */
async function writeLine(handle: FileHandle, record: TranscriptRecord | { type: 'turn'; messages: unknown[] }, path: string): Promise<number> {
  const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
  try {
    let offset = 0;
    while (offset < line.length) {
      const { bytesWritten } = await handle.write(line, offset, line.length - offset);
      offset += bytesWritten;
    }
    await handle.datasync();
  } catch (err) {
    throw new ParleyError('CONFIG', `could not write to transcript ${path}: ${(err as Error).message}`, { cause: err });
  }
  return line.length;
}
