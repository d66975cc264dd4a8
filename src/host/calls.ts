/**
 * The two shapes a call takes on the host: a request answered once (chat,
 * models, health), whose promise is the caller's, and a stream, whose
 * outcome arrives on its own port and reaches the caller through its
 * StreamReader.
 */
import type { ParleyError } from '../shared/errors.ts';
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
    if (this.succeed()) this.#resolve(value as T);
  }

  protected failed(err: ParleyError): void {
    this.#reject(err);
  }
}

export class StreamCall extends PendingCall {
  readonly reader: StreamReader;

  constructor(calls: PendingCalls, provider: string, model: string, timeoutMs: number, signal: AbortSignal | undefined, credits: number) {
    super(calls, 'stream', provider, model, timeoutMs, signal);
    this.reader = new StreamReader(credits, (err) => (err ? this.fail(err, true) : this.succeed()));
  }

  /** The worker took the stream; its end comes on the stream's port. */
  resolve(): void {}

  protected failed(err: ParleyError, tellWorker: boolean): void {
    this.reader.fail(err, tellWorker);
  }
}
