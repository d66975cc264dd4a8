/**
 * The worker's end of one stream's MessagePort. Events are batched per turn
 * of the event loop (one postMessage carries every token decoded in that
 * turn), and each batch spends one credit: when the host stops granting
 * credits, the reader stops reading the HTTP body, so a slow consumer pauses
 * the socket instead of filling memory.
 *
 * Once the host has adopted this worker's stream hub (stream-hub.ts), a new
 * stream sends its events, end and error there instead, gathered with the
 * other streams'; credits and cancels still come on the stream's own port.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { WireError } from '../shared/error-wire.ts';
import { packEvents, type EventBatch } from '../shared/event-batch.ts';
import type { StreamToHost, StreamToWorker } from '../shared/protocol.ts';
import type { CallReport, ChatResult, StreamEvent } from '../shared/types.ts';
import { streamHub, type HubStream } from './stream-hub.ts';

/** Events one batch gathers before the reader waits for it to be sent. */
const MAX_BATCH_EVENTS = 512;

export class StreamWriter implements HubStream {
  /** The stream's key on the hub, or -1 while it uses its own port. */
  readonly hubKey: number = -1;
  readonly #port: MessagePort;
  #credits: number;
  #queue: StreamEvent[] = [];
  #flushScheduled = false;
  #closed = false;
  #delivered = false;
  /** A batch went out: later events may wait for the flush window. */
  #sentFirst = false;
  /** Waiting in the hub's list for its next flush. */
  #inHub = false;
  #creditWaiter: (() => void) | undefined;
  readonly #onCancel: (reason: WireError) => void;

  constructor(port: MessagePort, credits: number, onCancel: (reason: WireError) => void) {
    this.#port = port;
    this.#credits = credits;
    this.#onCancel = onCancel;
    // The host queued the stream's key on the port before handing it over.
    const first = receiveMessageOnPort(port)?.message as StreamToWorker | undefined;
    if (first?.type === 'hello') {
      if (streamHub.ready) this.hubKey = first.key;
      else {
        const offer = streamHub.offer();
        if (offer) port.postMessage({ type: 'hub', port: offer } satisfies StreamToHost, [offer]);
      }
    } else if (first) queueMicrotask(() => this.#receive(first));
    port.on('message', (msg: StreamToWorker) => this.#receive(msg));
  }

  /** True once any event was handed to the port: from then on a retry would repeat output. */
  get delivered(): boolean {
    return this.#delivered;
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(events: StreamEvent[]): void {
    if (this.#closed || events.length === 0) return;
    for (const event of events) this.#queue.push(event);
    this.#delivered = true;
    this.#schedule(!this.#sentFirst);
  }

  /** Has the queue sent: by the hub (at once when `urgent`, else within its window), or at the end of this turn. */
  #schedule(urgent: boolean): void {
    if (this.hubKey >= 0) {
      if (this.#inHub) return;
      this.#inHub = true;
      streamHub.wake(this, urgent);
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** The queued events as one batch, spending a credit; undefined without events or credit. */
  drain(): EventBatch | undefined {
    this.#inHub = false;
    if (this.#closed || this.#queue.length === 0 || this.#credits <= 0) return undefined;
    this.#credits--;
    this.#sentFirst = true;
    const events = this.#queue;
    this.#queue = [];
    if (this.#credits > 0) this.#wakeWaiter();
    return packEvents(events);
  }

  /**
   * Resolves when the reader may go on: the host has room for another batch,
   * and the batch being gathered is not already large (a credit bounds the
   * number of batches; this bounds what one batch can hold).
   */
  waitForCredit(): Promise<void> | undefined {
    if (this.#closed) return undefined;
    if (this.#credits > 0 && this.#queue.length < MAX_BATCH_EVENTS) return undefined;
    return new Promise((resolve) => {
      this.#creditWaiter = resolve;
    });
  }

  end(result: ChatResult, report: CallReport | undefined): void {
    // The result carries the whole content although the host has seen every
    // piece: one flat string is cheap to clone, while rebuilding it on the
    // host would keep every token alive there until the end, and the host's
    // young-generation GC pauses grow with what survives them.
    this.#finish(report === undefined ? { type: 'end', result } : { type: 'end', result, report });
  }

  fail(error: WireError): void {
    this.#finish({ type: 'error', error });
  }

  /** Closes without a message: the host has already gone (cancel). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#wakeWaiter();
    this.#port.close();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = this.drain();
    if (batch) this.#post({ type: 'events', batch });
  }

  #finish(last: StreamToHost): void {
    if (this.#closed) return;
    // The final batch goes out regardless of credit (the reader has stopped),
    // in the same message as the end: a reply that arrived in one piece costs
    // one postMessage.
    if (this.#queue.length > 0) {
      const batch = packEvents(this.#queue);
      this.#queue = [];
      if (last.type === 'end') last = { ...last, batch };
      else this.#post({ type: 'events', batch });
    }
    this.#post(last);
    this.close();
  }

  #post(msg: StreamToHost): void {
    if (this.hubKey >= 0) streamHub.post(this.hubKey, msg);
    else this.#port.postMessage(msg);
  }

  #receive(msg: StreamToWorker): void {
    if (msg.type === 'credit') {
      const stalled = this.#credits <= 0;
      this.#credits += msg.batches;
      if (this.#queue.length > 0) {
        // A stream that waited for credit goes on at once, as it did before the hub.
        if (this.hubKey >= 0) this.#schedule(stalled);
        else if (!this.#flushScheduled) this.#flush();
      }
      this.#wakeWaiter();
    } else if (msg.type === 'cancel') {
      this.close();
      this.#onCancel(msg.reason);
    }
  }

  #wakeWaiter(): void {
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
  }
}
