/**
 * The two shapes a call takes on the host: a request answered once (chat,
 * models, health), whose promise is the caller's, and a stream, whose
 * outcome arrives on its own port and reaches the caller through its
 * StreamReader.
 */
import { ParleyError } from '../shared/errors.ts';
import type { ChatAnswer } from '../shared/protocol.ts';
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
    // A chat's report is for observability: the caller gets the result as the adapter made it.
    if (this.kind === 'chat' && (value as ChatAnswer).report !== undefined) {
      this.report = (value as ChatAnswer).report;
      delete (value as ChatAnswer).report;
    }
    if (this.trace !== undefined) this.trace.answer = value;
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
    this.reader = new StreamReader(credits, signal, (err) => {
      this.report = this.reader.ending?.report ?? err?.report;
      if (this.trace !== undefined) this.trace.answer = this.reader.ending?.result;
      this.end(err, undefined);
    });
  }

  override get firstEventAt(): number | undefined {
    return this.reader.firstEventAt;
  }

  /** The worker took the stream; its end comes on the stream's port. */
  resolve(): void {}

  /** The caller left the loop early: the request is cancelled, and the call ends with ABORTED. */
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
