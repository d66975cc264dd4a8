/**
 * Every call in flight lives in one map, keyed by call id, with the worker
 * it runs on. However a call ends (result, error, deadline, abort, worker
 * death, shutdown) it ends through `PendingCall.end`, which runs at most
 * once per call, clears the call's timer and abort listener, and is the one
 * place that tells a worker to stop a call.
 *
 * A call is one object: its deadline timer gets the call as its argument
 * and its abort listener is the call itself (`handleEvent`), so opening a
 * call makes no closures. The host thread opens one per chat; at tens of
 * thousands a second, the closures used to be a good share of its garbage.
 */
import { ParleyError } from '../shared/errors.ts';
import { describeValue } from '../shared/error-wire.ts';
import type { Redactor } from '../shared/redaction.ts';
import type { CallReport } from '../shared/types.ts';
import { LatencyWindows } from './observability/latency-window.ts';
import type { CallTrace } from './observability/call-trace.ts';

/** Who runs the calls: told to stop one that the host gave up on. */
export interface CallCanceller {
  /** Cooperative cancel: the worker running `call` aborts its HTTP request and frees its socket. */
  cancel(call: PendingCall, reason: ParleyError): void;
}

/** Who keeps score of what providers did (the fallback router's breaker). */
export interface OutcomeRecorder {
  record(provider: string, err: ParleyError | undefined): void;
}

/** The longest delay setTimeout honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type CallKind = 'chat' | 'stream' | 'models' | 'health';

export abstract class PendingCall {
  readonly id: number;
  readonly kind: CallKind;
  readonly provider: string;
  /** The model asked for (chat and stream). */
  readonly model: string | undefined;
  readonly deadlineAt: number;
  readonly timeoutMs: number;
  /** Worker the call was placed on (undefined while it waits for one). */
  workerId: number | undefined = undefined;
  /** performance.now() at the start, for latency figures. */
  readonly startedAt: number;
  /** What the worker said about its attempts, when it had more to say than one attempt. */
  report: CallReport | undefined = undefined;
  /** Set when the call is observed (events, logger, OpenTelemetry); undefined costs nothing. */
  trace: CallTrace | undefined = undefined;
  readonly #calls: PendingCalls;
  readonly #signal: AbortSignal | undefined;
  readonly #started: number;
  readonly #timer: NodeJS.Timeout;
  #settled = false;

  constructor(calls: PendingCalls, kind: CallKind, provider: string, model: string | undefined, timeoutMs: number, signal: AbortSignal | undefined) {
    this.#calls = calls;
    this.kind = kind;
    this.provider = provider;
    this.model = model;
    this.id = calls.register(this);
    this.#started = Date.now();
    this.startedAt = performance.now();
    this.timeoutMs = timeoutMs;
    this.deadlineAt = this.#started + timeoutMs;
    this.#signal = signal;
    signal?.addEventListener('abort', this, { once: true });
    this.#timer = setTimeout(expire, timeoutMs, this);
  }

  get settled(): boolean {
    return this.#settled;
  }

  /** What the call is, for its timeout message (e.g. `chat with "local" (llama3)`). */
  describe(): string {
    switch (this.kind) {
      case 'chat':
        return `chat with "${this.provider}" (${this.model})`;
      case 'stream':
        return `stream from "${this.provider}" (${this.model})`;
      case 'models':
        return `models of "${this.provider}"`;
      case 'health':
        return `health of "${this.provider}"`;
    }
  }

  /** The worker answered (a stream: the worker took it; its end comes on its own port). */
  abstract resolve(value: unknown): void;

  /** The worker failed the call, or no worker could take it: nothing runs it any more. */
  reject(err: unknown): void {
    this.end(asParleyError(err), undefined);
  }

  /** The host gives up on the call (deadline, abort, shutdown): the worker is told to stop it. */
  abandon(err: ParleyError): void {
    this.end(err, err);
  }

  /** The caller's AbortSignal fired. */
  handleEvent(): void {
    this.abandon(abortError(this.#signal!));
  }

  timedOut(): void {
    const elapsed = Date.now() - this.#started;
    this.abandon(
      new ParleyError(
        'TIMEOUT',
        `${this.describe()}: ${this.#calls.size} calls in flight timed out after ${this.timeoutMs} ms (${elapsed} ms elapsed)`,
      ),
    );
  }

  /**
   * The one way a call ends; the first end wins and later ones return false.
   * `err` is the outcome for the caller (undefined: success). `stop`, when
   * set, is the reason given to a worker that may still be running the call;
   * undefined when the worker ended the call itself or is gone.
   */
  protected end(err: ParleyError | undefined, stop: ParleyError | undefined): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this);
    if (stop) this.stopWorker(stop);
    const outcome = err && this.#calls.redactor.error(err);
    this.ended(outcome);
    this.#calls.release(this, err);
    if (this.trace !== undefined) this.trace.attemptEnded(this, outcome);
    return true;
  }

  /** performance.now() when the first streamed events reached the host; undefined for a request. */
  get firstEventAt(): number | undefined {
    return undefined;
  }

  /** Tells the worker running this call to stop it (the caller is not kept waiting for that). */
  protected stopWorker(reason: ParleyError): void {
    this.#calls.canceller.cancel(this, reason);
  }

  /** Hands the outcome to the caller. */
  protected abstract ended(err: ParleyError | undefined): void;
}

function expire(call: PendingCall): void {
  call.timedOut();
}

export class PendingCalls {
  readonly canceller: CallCanceller;
  /** Every error a call ends with passes through it on its way to the caller. */
  readonly redactor: Redactor;
  readonly #recorder: OutcomeRecorder;
  #nextId = 1;
  readonly #calls = new Map<number, PendingCall>();
  /** Recent latency of the chats and streams that ended well, per provider. */
  readonly latency = new LatencyWindows();
  #emptyWaiters: (() => void)[] = [];
  #completed = 0;
  #failed = 0;

  constructor(canceller: CallCanceller, recorder: OutcomeRecorder, redactor: Redactor) {
    this.canceller = canceller;
    this.redactor = redactor;
    this.#recorder = recorder;
  }

  get size(): number {
    return this.#calls.size;
  }
  /** Calls that ended well. */
  get completed(): number {
    return this.#completed;
  }
  /** Calls that ended with an error. */
  get failed(): number {
    return this.#failed;
  }

  /** Called by a new PendingCall: its id. */
  register(call: PendingCall): number {
    const id = this.#nextId++;
    this.#calls.set(id, call);
    return id;
  }

  /** Called once by an ending call. */
  release(call: PendingCall, err: ParleyError | undefined): void {
    this.#calls.delete(call.id);
    if (err) this.#failed++;
    else {
      this.#completed++;
      if (call.kind === 'chat' || call.kind === 'stream') this.latency.record(call.provider, call.startedAt, performance.now(), call.firstEventAt);
    }
    // The breaker counts what providers did with chats and streams.
    if (call.kind === 'chat' || call.kind === 'stream') this.#recorder.record(call.provider, err);
    if (this.#calls.size === 0) this.#notifyEmpty();
  }

  /** The worker died: its calls fail with `err` (there is nothing left to stop). Returns how many. */
  rejectOn(workerId: number, err: ParleyError): number {
    let count = 0;
    for (const call of [...this.#calls.values()]) {
      if (call.workerId !== workerId) continue;
      call.reject(err);
      count++;
    }
    return count;
  }

  /** Every call fails with `err`, with nothing to stop: its thread is gone or about to be. */
  rejectAll(err: ParleyError): void {
    for (const call of [...this.#calls.values()]) call.reject(err);
  }

  /** The host gives up on every call (workers are told to stop them). Returns how many. */
  abandonAll(err: ParleyError): number {
    const calls = [...this.#calls.values()];
    for (const call of calls) call.abandon(err);
    return calls.length;
  }

  /**
   * Resolves true when no call is in flight, or false after `ms`. An `ms`
   * beyond what a timer can hold (Infinity included) sets no timer: each
   * call still ends by its own deadline.
   */
  whenEmpty(ms: number): Promise<boolean> {
    if (this.#calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      // setTimeout turns a delay past 2^31-1 ms into 1 ms.
      const timer = ms <= MAX_TIMER_MS ? setTimeout(() => {
        this.#emptyWaiters = this.#emptyWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, ms) : undefined;
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#emptyWaiters.push(waiter);
    });
  }

  #notifyEmpty(): void {
    const waiters = this.#emptyWaiters;
    this.#emptyWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

/** ABORTED with the signal's reason, whatever it is, as `cause` (the reason's text is in the message when it has one). */
export function abortError(signal: AbortSignal): ParleyError {
  const reason: unknown = signal.reason;
  const detail = reason === undefined ? '' : describeValue(reason);
  return new ParleyError('ABORTED', `the call was aborted${detail ? `: ${detail}` : ''}`, { cause: reason });
}

export function asParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  return new ParleyError('BAD_RESPONSE', `unexpected error: ${describeValue(err)}`, { cause: err });
}
