/**
 * What every protocol's stream parser shares: bytes go through the protocol's
 * decoder (SSE events, NDJSON values), each decoded item is read into one
 * reply until the protocol's end marker, and an error met after events of the
 * same chunk is held for finish(), as StreamParser.push() promises. A protocol
 * supplies only read(), its decoder, the words for its end marker and its finish reasons.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ChatRequest, ChatResult, StreamEvent } from '../../shared/types.ts';
import type { ProviderContext, StreamParser } from './adapter.ts';
import { ReplyAssembler, type FinishMap } from './reply-assembler.ts';

/** Bytes to protocol items; SseDecoder and NdjsonDecoder are both one. */
interface ItemDecoder<Item> {
  push(chunk: Uint8Array): Item[];
  /** The body ended: the items a last unterminated line completes. */
  end(): Item[];
}

export interface StreamProtocol<Item> {
  decoder: ItemDecoder<Item>;
  /** Completes "the stream ended without …" in the INCOMPLETE error. */
  endMarker: string;
  /** The protocol's finish words onto parley's closed set. */
  finish: FinishMap;
}

export abstract class StreamParserBase<Item> implements StreamParser {
  // Protected rather than #private: the protocols' read() fills these.
  protected readonly ctx: ProviderContext;
  protected readonly reply: ReplyAssembler;
  readonly #decoder: ItemDecoder<Item>;
  readonly #endMarker: string;
  readonly #finish: FinishMap;
  #done = false;
  #failure: unknown;

  constructor(ctx: ProviderContext, req: ChatRequest, protocol: StreamProtocol<Item>) {
    this.ctx = ctx;
    this.reply = new ReplyAssembler(ctx.name, req.model);
    this.#decoder = protocol.decoder;
    this.#endMarker = protocol.endMarker;
    this.#finish = protocol.finish;
  }

  /**
   * Reads one decoded item into `this.reply`, pushing the events it completes;
   * returns true when the item is the protocol's end marker. Throws PROVIDER or
   * BAD_RESPONSE.
   */
  protected abstract read(item: Item, events: StreamEvent[]): boolean;

  get done(): boolean {
    return this.#done || this.#failure !== undefined;
  }

  push(chunk: Uint8Array): StreamEvent[] {
    const events: StreamEvent[] = [];
    if (this.done) return events;
    try {
      this.#readAll(this.#decoder.push(chunk), events);
    } catch (err) {
      // What the provider sent before its error, in the same chunk, still
      // reaches the caller; finish() then throws the error.
      if (events.length === 0) throw err;
      this.#failure = err;
    }
    return events;
  }

  finish(): ChatResult {
    if (this.#failure !== undefined) throw this.#failure;
    // The last item still counts, end marker included: an NDJSON line without
    // its line end, an SSE event whose blank line never came.
    if (!this.#done) this.#readAll(this.#decoder.end(), []);
    if (!this.#done) {
      throw new ParleyError('INCOMPLETE', `the stream ended without ${this.#endMarker}`, { provider: this.ctx.name });
    }
    return this.reply.result(this.#finish);
  }

  #readAll(items: Item[], events: StreamEvent[]): void {
    for (const item of items) {
      if (this.read(item, events)) {
        this.#done = true;
        return;
      }
    }
  }
}
