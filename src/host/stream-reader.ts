/**
 * The host's end of one stream's MessagePort, as an async iterator of
 * StreamEvents. It hands credits back to the worker as the consumer drains
 * batches, ends with exactly one 'done' event or one thrown ParleyError, and
 * cancels the HTTP request when the consumer leaves the loop early.
 *
 * next() may be called again before the last one settled: the calls wait in
 * a queue and settle in the order they were made, each with the next event;
 * after the end ('done' or the error) every later one gets `done: true`.
 *
 * The caller's AbortSignal counts until the caller has read 'done': a reply
 * that arrived whole but is not read yet ends with ABORTED when the signal
 * fires, as a fetch body's reader does, so that nothing of it is shown or
 * recorded after the caller pressed stop.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ParleyError } from '../shared/errors.ts';
import { fromWireError, toWireError } from '../shared/error-wire.ts';
import type { EventBatch } from '../shared/event-batch.ts';
import { abortError } from './pending-calls.ts';
import { adoptHub, registerReader, unregisterReader, type HubReader } from './stream-hub.ts';
import type { StreamToHost, StreamToWorker } from '../shared/protocol.ts';
import type { CallReport, ChatResult, StreamEvent } from '../shared/types.ts';

type Waiter = { resolve: (r: IteratorResult<StreamEvent>) => void; reject: (e: unknown) => void };

export class StreamReader implements HubReader {
  /** Transfer this end to the worker. */
  readonly remotePort: MessagePort;
  /** performance.now() when the first events arrived (time to first chunk, for observability). */
  firstEventAt: number | undefined = undefined;
  /** The worker's end message, once it came: the result and the call's report (observability). */
  ending: { result: ChatResult; report?: CallReport } | undefined = undefined;
  readonly #port: MessagePort;
  /** This stream's key on the worker's stream hub. */
  readonly #key: number;
  readonly #creditBatch: number;
  /** Batches arrived and not yet read; the first is read from #index (its tool calls from #toolIndex). */
  #batches: EventBatch[] = [];
  #index = 0;
  #toolIndex = 0;
  #consumed = 0;
  #result: ChatResult | undefined;
  #error: ParleyError | undefined;
  #finished = false;
  /** The worker ended the stream with an error (its events before it are still to be read). */
  #failedByWorker = false;
  /** next() calls waiting for an event, oldest first. */
  #waiters: Waiter[] = [];
  #onEnd: (err: ParleyError | undefined) => void;
  readonly #signal: AbortSignal | undefined;

  /** `onEnd` runs once when the worker ended the stream (result or error); `signal` is the caller's. */
  constructor(credits: number, signal: AbortSignal | undefined, onEnd: (err: ParleyError | undefined) => void) {
    this.#signal = signal;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.remotePort = port2;
    this.#creditBatch = Math.max(1, Math.floor(credits / 2));
    this.#onEnd = onEnd;
    this.#key = registerReader(this);
    // Queued before the port is handed over, so it is the first thing the worker reads there.
    this.#send({ type: 'hello', key: this.#key });
    port1.on('message', (msg: StreamToHost) => this.receive(msg));
  }

  /** Tells the worker's end to stop sending (deadline, abort, shutdown, the consumer left). */
  stop(reason: ParleyError): void {
    if (!this.#finished) this.#send({ type: 'cancel', reason: toWireError(reason) });
  }

  /**
   * Ends the stream from the host side: with `err` for the consumer, or
   * quietly. A stream whose result has arrived is left for the consumer to read.
   */
  end(err: ParleyError | undefined): void {
    if (this.#finished || this.#result) return;
    if (err) this.#error = err;
    // The worker's own error: the events it sent before it are read first,
    // even when both came in one hub message.
    if (this.#failedByWorker) return this.#wake();
    this.#finish();
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    // While the call runs, its own abort listener ends it; once the reply is
    // here, only this read can notice the signal.
    if (this.#result && this.#signal?.aborted) this.#abortUnread(this.#signal);
    // The hot path, once per token: an event is here and nobody is ahead.
    if (this.#waiters.length === 0) {
      const batch = this.#batches[0];
      if (batch) return Promise.resolve({ value: this.#take(batch), done: false });
    }
    const promise = new Promise<IteratorResult<StreamEvent>>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
    this.#wake();
    return promise;
  }

  /** The caller aborted after the reply arrived but before reading it to 'done': what is left becomes ABORTED. */
  #abortUnread(signal: AbortSignal): void {
    this.#dropBatches();
    this.#result = undefined;
    this.#error = abortError(signal);
  }

  /** The next event of `batch`, the first of #batches; builds the event object only now. */
  #take(batch: EventBatch): StreamEvent {
    const i = this.#index++;
    const kind = batch.kinds.charCodeAt(i);
    const event: StreamEvent =
      kind === 116 /* t */
        ? { type: 'text', text: batch.parts[i]! }
        : kind === 114 /* r */
          ? { type: 'reasoning', text: batch.parts[i]! }
          : kind === 102 /* f */
            ? { type: 'refusal', text: batch.parts[i]! }
            : { type: 'tool_call', toolCall: batch.toolCalls![this.#toolIndex++]! };
    if (this.#index >= batch.kinds.length) {
      this.#batches.shift();
      this.#index = 0;
      this.#toolIndex = 0;
      if (++this.#consumed >= this.#creditBatch) {
        this.#send({ type: 'credit', batches: this.#consumed });
        this.#consumed = 0;
      }
    }
    return event;
  }

  /** A message from the worker, on this stream's own port or through the worker's stream hub. */
  receive(msg: StreamToHost): void {
    // A hub serves the worker's other streams too, even when this one has ended.
    if (msg.type === 'hub') return adoptHub(msg.port as MessagePort);
    if (this.#finished) return;
    if (msg.type === 'events') return this.receiveBatch(msg.batch);
    if (msg.type === 'end') {
      if (msg.batch) this.receiveBatch(msg.batch);
      this.#result = msg.result;
      this.ending = msg;
      this.#close();
      this.#onEnd(undefined);
    } else {
      this.#error = fromWireError(msg.error);
      this.#failedByWorker = true;
      this.#close();
      this.#onEnd(this.#error);
    }
    this.#wake();
  }

  /** A batch of events from the worker (the hub hands them over bare). */
  receiveBatch(batch: EventBatch): void {
    if (this.#finished || batch.kinds.length === 0) return;
    this.firstEventAt ??= performance.now();
    this.#batches.push(batch);
    this.#wake();
  }

  /** Settles the waiting next() calls, in order, with what has arrived. */
  #wake(): void {
    const waiters = this.#waiters;
    while (waiters.length > 0) {
      const batch = this.#batches[0];
      if (batch) {
        waiters.shift()!.resolve({ value: this.#take(batch), done: false });
      } else if (this.#result) {
        const result = this.#result;
        this.#result = undefined;
        this.#finished = true;
        waiters.shift()!.resolve({ value: { type: 'done', result }, done: false });
      } else if (this.#error) {
        const err = this.#error;
        this.#error = undefined;
        this.#finished = true;
        waiters.shift()!.reject(err);
      } else if (this.#finished) {
        waiters.shift()!.resolve({ value: undefined, done: true });
      } else {
        return;
      }
    }
  }

  #finish(): void {
    this.#dropBatches();
    this.#close();
    if (!this.#error) this.#finished = true;
    this.#wake();
  }

  #dropBatches(): void {
    this.#batches = [];
    this.#index = 0;
    this.#toolIndex = 0;
  }

  #close(): void {
    this.#port.close();
    unregisterReader(this.#key);
  }

  #send(msg: StreamToWorker): void {
    this.#port.postMessage(msg);
  }
}
