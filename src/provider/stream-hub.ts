/**
 * One port per worker that carries the host-bound traffic of every stream
 * the worker serves, coalesced: each postMessage holds what all streams
 * gathered since the last one. With a port per stream, 64 streams at a
 * human rate cost the host 64 messages (64 JS entries, and as many
 * wake-ups) where one would do.
 *
 * A flush window spaces the messages: events of a stream that has already
 * shown its first tokens wait at most FLUSH_WINDOW_MS to travel with the
 * others. A stream's first events, its end or error, and a stream that was
 * waiting for credit go at the end of the current event-loop turn, as they
 * did with a port per stream, so the window never delays a first token or a
 * reply's completion.
 *
 * The hub is offered to the host on a stream's own port and used only once
 * the host has answered on it, so a hub lost on the way (the host closed
 * that stream's port first) costs nothing: streams keep their own ports
 * until a later stream offers another.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { EventBatch } from '../shared/event-batch.ts';
import type { StreamHubMessage, StreamToHost } from '../shared/protocol.ts';

/** The longest an event of a stream already under way waits for the others. */
export const FLUSH_WINDOW_MS = 4;
/** An offer not answered in this time is dropped; the next stream offers a new hub. */
const OFFER_TIMEOUT_MS = 1_000;

/** A stream's writer as the hub sees it. */
export interface HubStream {
  readonly hubKey: number;
  /** Its events waiting to go, as one batch (spending a credit), or undefined (none, or no credit). */
  drain(): EventBatch | undefined;
}

class StreamHub {
  #port: MessagePort | undefined;
  #ready = false;
  #offeredAt = 0;
  #waiting: HubStream[] = [];
  /** Last messages (end, error), in order: [key, message, ...]. */
  #last: StreamHubMessage = [];
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastPostAt = Number.NEGATIVE_INFINITY;

  /** True once the host has adopted the hub: a stream that starts now may use it. */
  get ready(): boolean {
    return this.#ready;
  }

  /** A hub port to hand the host on a stream's own port, unless one is in use or on its way. */
  offer(): MessagePort | undefined {
    if (this.#ready || (this.#port && performance.now() - this.#offeredAt < OFFER_TIMEOUT_MS)) return undefined;
    this.#port?.close();
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#offeredAt = performance.now();
    port1.on('message', () => {
      if (this.#port === port1) this.#ready = true;
    });
    // Closed before the host adopted it (the host's end was dropped): offer another later.
    port1.once('close', () => {
      if (this.#port !== port1) return;
      this.#port = undefined;
      this.#ready = false;
    });
    // The hub must never keep a worker alive: the streams' own ports and the flush timers do while there is work.
    port1.unref();
    return port2;
  }

  /** `stream` has events to send: at the end of this turn when `urgent`, else within the flush window. */
  wake(stream: HubStream, urgent: boolean): void {
    this.#waiting.push(stream);
    this.#schedule(urgent);
  }

  /** A stream's last message, sent at the end of this turn. */
  post(key: number, msg: StreamToHost): void {
    this.#last.push(key, msg);
    this.#schedule(true);
  }

  #schedule(urgent: boolean): void {
    if (this.#immediate) return;
    const wait = this.#lastPostAt + FLUSH_WINDOW_MS - performance.now();
    if (urgent || wait <= 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#immediate = setImmediate(this.#flush);
    } else {
      this.#timer ??= setTimeout(this.#flush, wait);
    }
  }

  readonly #flush = (): void => {
    this.#immediate = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiting = this.#waiting;
    this.#waiting = [];
    // A stream's last message holds its last events, so the batches go first
    // and no stream's own order changes.
    const out: StreamHubMessage = [];
    for (const stream of waiting) {
      const batch = stream.drain();
      if (batch) out.push(stream.hubKey, batch);
    }
    for (const item of this.#last) out.push(item);
    this.#last = [];
    if (out.length === 0) return;
    this.#lastPostAt = performance.now();
    // The host never closes a hub it adopted; should it be gone all the same, its streams end by their deadlines.
    this.#port?.postMessage(out);
  };
}

/** This thread's hub. */
export const streamHub = new StreamHub();
