/**
 * Writes one chat response: timing (token delay), backpressure and every
 * fault mode, written once for all three protocols. A protocol only supplies
 * frames (see wire-protocol.ts).
 */

import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { DEFAULT_AFTER_TOKENS, type Fault } from './options.ts';
import type { ExchangeContext, StreamEncoder, WireProtocol } from './wire-protocol.ts';

export interface ExchangeSettings {
  /** Read before every token, so setOptions({ tokenDelayMs }) applies to streams already running. */
  tokenDelayMs(): number;
  /** Told +1 when the response waits for 'drain' (its client stopped reading), -1 when it stops waiting. */
  blocked(delta: 1 | -1): void;
}

/** Settles when the response is finished or its connection is gone; never rejects. */
class Lifeline {
  readonly closed: Promise<void>;
  readonly settings: ExchangeSettings;
  #done = false;
  constructor(res: ServerResponse, settings: ExchangeSettings) {
    this.settings = settings;
    this.closed = new Promise((resolve) => res.once('close', resolve)).then(() => {
      this.#done = true;
    });
  }
  get done(): boolean {
    return this.#done;
  }
  /** Waits `ms`, or less if the connection goes away first. */
  async sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#done) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, ms))), this.closed]);
    clearTimeout(timer);
  }
}

async function write(res: ServerResponse, life: Lifeline, frames: string[]): Promise<void> {
  for (const frame of frames) {
    if (life.done || res.destroyed) return;
    if (res.write(frame)) continue;
    life.settings.blocked(1);
    await Promise.race([new Promise((resolve) => res.once('drain', resolve)), life.closed]);
    life.settings.blocked(-1);
  }
}

/**
 * Breaks the connection with a TCP RST. The short grace first lets the
 * client read the tokens already written: an RST that overtakes them on
 * loopback makes the kernel drop them, and the fault would then look like a
 * failure before the stream began instead of mid-stream.
 */
async function reset(res: ServerResponse, life: Lifeline): Promise<void> {
  const socket = res.socket as (Socket & { resetAndDestroy?: () => void }) | null;
  if (!socket || socket.destroyed) return;
  await new Promise<void>((resolve) => socket.write('', () => resolve()));
  await life.sleep(20);
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

/** The same frame with its JSON broken: `{` becomes `{,`, so clients fail to parse exactly this chunk. */
function corrupt(frame: string): string {
  const at = frame.indexOf('{');
  return at < 0 ? `${frame}{,` : `${frame.slice(0, at)}{,${frame.slice(at + 1)}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, protocol: WireProtocol, status: number, message: string, headers?: Record<string, string>): void {
  sendJson(res, status, protocol.errorBody(status, message), headers);
}

type MidStreamFault = Extract<Fault, { kind: 'stall' | 'reset' | 'truncate' | 'stream-error' | 'malformed' }>;

function isMidStream(fault: Fault | undefined): fault is MidStreamFault {
  return fault !== undefined && ['stall', 'reset', 'truncate', 'stream-error', 'malformed'].includes(fault.kind);
}

/** Performs a mid-stream fault other than 'malformed'; the stream is over afterwards. */
async function strike(fault: MidStreamFault, res: ServerResponse, life: Lifeline, enc: StreamEncoder): Promise<void> {
  switch (fault.kind) {
    case 'stall': {
      const comment = enc.keepAlive();
      const timer =
        fault.commentEveryMs && comment ? setInterval(() => !life.done && res.write(comment), fault.commentEveryMs) : undefined;
      await life.closed;
      clearInterval(timer);
      return;
    }
    case 'reset':
      return reset(res, life);
    case 'truncate':
      res.end();
      return;
    case 'stream-error':
      await write(res, life, [enc.error(fault.message ?? 'the model server failed while generating')]);
      res.end();
      return;
    case 'malformed':
      return;
  }
}

async function stream(res: ServerResponse, life: Lifeline, protocol: WireProtocol, ctx: ExchangeContext, fault: Fault | undefined, settings: ExchangeSettings): Promise<void> {
  const enc = protocol.encoder(ctx);
  res.writeHead(200, { 'content-type': enc.contentType, 'cache-control': 'no-cache' });
  res.flushHeaders();
  await write(res, life, enc.start());
  const gated = isMidStream(fault) ? fault : undefined;
  const at = gated?.afterTokens ?? DEFAULT_AFTER_TOKENS;
  let struck = false;
  const events = ctx.reply.events;
  for (let i = 0; i < events.length; i++) {
    await life.sleep(settings.tokenDelayMs());
    if (life.done) return;
    let frames = enc.event(events[i]!);
    if (gated && i === at) {
      struck = true;
      if (gated.kind !== 'malformed') return strike(gated, res, life, enc);
      frames = frames.map(corrupt);
    }
    await write(res, life, frames);
  }
  let tail = [...enc.finish(), ...enc.endMarker()];
  if (gated && !struck) {
    // The reply was shorter than afterTokens: the fault strikes just before the end.
    if (gated.kind !== 'malformed') return strike(gated, res, life, enc);
    tail = [corrupt(tail[0]!), ...tail.slice(1)];
  }
  await write(res, life, tail);
  if (!life.done) res.end();
}

/** Non-stream bodies have no tokens to count: mid-stream faults strike inside the one JSON body. */
async function single(res: ServerResponse, life: Lifeline, protocol: WireProtocol, ctx: ExchangeContext, fault: Fault | undefined): Promise<void> {
  const text = JSON.stringify(protocol.body(ctx));
  const type = { 'content-type': 'application/json; charset=utf-8' };
  switch (fault?.kind) {
    case 'stall':
      res.writeHead(200, type);
      res.flushHeaders();
      await life.closed;
      return;
    case 'reset':
      res.writeHead(200, { ...type, 'content-length': Buffer.byteLength(text) });
      await write(res, life, [text.slice(0, text.length >> 1)]);
      return reset(res, life);
    case 'truncate':
      // Chunked, so the body can end cleanly half way through the JSON.
      res.writeHead(200, type);
      res.end(text.slice(0, text.length >> 1));
      return;
    case 'stream-error':
      sendJson(res, 200, protocol.inBodyError(fault.message ?? 'the model server failed while generating'));
      return;
    case 'malformed': {
      const bad = corrupt(text);
      res.writeHead(200, { ...type, 'content-length': Buffer.byteLength(bad) });
      res.end(bad);
      return;
    }
    default:
      res.writeHead(200, { ...type, 'content-length': Buffer.byteLength(text) });
      await write(res, life, [text]);
      if (!life.done) res.end();
  }
}

/** Answers one parsed chat request, applying `fault`. Resolves when the response is over (or abandoned). */
export async function runExchange(
  res: ServerResponse,
  protocol: WireProtocol,
  ctx: ExchangeContext,
  fault: Fault | undefined,
  settings: ExchangeSettings,
): Promise<void> {
  const life = new Lifeline(res, settings);
  if (fault?.kind === 'slow-headers') {
    await life.sleep(fault.delayMs);
    if (life.done) return;
  }
  if (fault?.kind === 'status') {
    const headers: Record<string, string> = {};
    if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
    if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = String(fault.retryAfterMs);
    sendError(res, protocol, fault.status, fault.message ?? STATUS_CODES[fault.status] ?? 'error', headers);
    return;
  }
  if (ctx.turn.stream) await stream(res, life, protocol, ctx, fault, settings);
  else await single(res, life, protocol, ctx, fault);
}
