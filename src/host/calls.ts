/**
 * The two shapes a call takes on the host: a request answered once (chat,
 * models, health), whose promise is the caller's, and a stream, whose
 * outcome arrives on its own port and reaches the caller through its
 * StreamReader.
 */
import { ParleyError } from '../shared/errors.ts';
import { PendingCall, type CallKind, type PendingCalls } from './pending-calls.ts';
import { StreamReader } from './stream-reader.ts';

export class RequestCall<T> extends PendingCall {
  readonly promise: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (err: ParleyError) => void;

  constructor(calls: PendingCalls, kind: CallKind, provider: string, model: string | undefined, timeoutMs: number, signal: AbortSignal | undefined) {
    super(calls, kind, provider, model, timeoutMs, signal);
    this.promise = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  resolve(value: unknown): void {
    if (this.end(undefined, undefined)) this.#resolve(value as T);
  }

  protected ended(err: ParleyError | undefined): void {
    if (err) this.#reject(err);
  }
}

export class StreamCall extends PendingCall {
  readonly reader: StreamReader;

  constructor(calls: PendingCalls, provider: string, model: string, timeoutMs: number, signal: AbortSignal | undefined, credits: number) {
    super(calls, 'stream', provider, model, timeoutMs, signal);
    // The worker ended the stream itself: there is nothing to tell it.
    this.reader = new StreamReader(credits, signal, (err) => this.end(err, undefined));
  }

  /** The worker took the stream; its end comes on the stream's port. */
  resolve(): void {}

  /** The caller left the loop early: the request is cancelled, and the call counts as done. */
  leave(): void {
    if (!this.settled) this.end(undefined, new ParleyError('ABORTED', 'the caller left the stream early'));
  }

  /** A stream is also told on its own port, which reaches the worker's writer directly. */
  protected override stopWorker(reason: ParleyError): void {
    super.stopWorker(reason);
    this.reader.stop(reason);
  }

  protected ended(err: ParleyError | undefined): void {
    this.reader.end(err);
  }
}
