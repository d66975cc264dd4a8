/**
 * Every call in flight lives in one map, keyed by call id, with the worker
 * it runs on. Whatever happens (result, error, deadline, abort, worker
 * death, shutdown) goes through `settle`, which runs at most once per call
 * and clears the call's timer and abort listener.
 *
 * A call is one object: its deadline timer gets the call as its argument
 * and its abort listener is the call itself (`handleEvent`), so opening a
 * call makes no closures. The host thread opens one per chat; at tens of
 * thousands a second, the closures used to be a good share of its garbage.
 */
import { ParleyError } from '../shared/errors.ts';

/** How the owner of the calls (the Runtime) hears about them. */
export interface CallHooks {
  /**
   * A call is failing, before it settles; `fromWorker` when the worker itself
   * reported the failure. Returns whether the worker was told to stop it.
   */
  failing(call: PendingCall, err: ParleyError, fromWorker: boolean): boolean;
  /** Runs once, when the call settles either way. */
  settled(call: PendingCall, err: ParleyError | undefined): void;
}

export type CallKind = 'chat' | 'stream' | 'models' | 'health';

export abstract class PendingCall {
  readonly id: number;
  readonly kind: CallKind;
  readonly provider: string;
  /** The model asked for (chat and stream). */
  readonly model: string | undefined;
  readonly deadlineAt: number;
  readonly timeoutMs: number;
  /** Worker the call was sent to (undefined while it waits for one). */
  workerId: number | undefined = undefined;
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
  /** The worker answered. */
  abstract resolve(value: unknown): void;
  /** The call failed (after the hooks heard of it); `tellWorker` when the worker was told to stop it. */
  protected abstract failed(err: ParleyError, tellWorker: boolean): void;

  /** The worker, or the way to it, failed the call. */
  reject(err: unknown): void {
    this.fail(asParleyError(err), true);
  }

  /** Fail the call (first settle wins); `fromWorker` when the worker itself reported the failure. */
  fail(err: ParleyError, fromWorker = false): void {
    if (this.#settled) return;
    const tellWorker = this.#calls.hooks.failing(this, err, fromWorker);
    this.failed(err, tellWorker);
    this.#settle(err);
  }

  /** Settle as a success; false when the call had already settled. */
  succeed(): boolean {
    return this.#settle(undefined);
  }

  /** The caller's AbortSignal fired. */
  handleEvent(): void {
    this.fail(abortError(this.#signal!));
  }

  timedOut(): void {
    const elapsed = Date.now() - this.#started;
    this.fail(
      new ParleyError(
        'TIMEOUT',
        `${this.describe()}: ${this.#calls.size} calls in flight timed out after ${this.timeoutMs} ms (${elapsed} ms elapsed)`,
      ),
    );
  }

  #settle(err: ParleyError | undefined): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this);
    this.#calls.release(this, err);
    return true;
  }
}

function expire(call: PendingCall): void {
  call.timedOut();
}

export class PendingCalls {
  readonly hooks: CallHooks;
  #nextId = 1;
  readonly #calls = new Map<number, PendingCall>();
  #emptyWaiters: (() => void)[] = [];

  constructor(hooks: CallHooks) {
    this.hooks = hooks;
  }

  get size(): number {
    return this.#calls.size;
  }

  /** Called by a new PendingCall: its id. */
  register(call: PendingCall): number {
    const id = this.#nextId++;
    this.#calls.set(id, call);
    return id;
  }

  /** Called once by a settling call. */
  release(call: PendingCall, err: ParleyError | undefined): void {
    this.#calls.delete(call.id);
    this.hooks.settled(call, err);
    if (this.#calls.size === 0) this.#notifyEmpty();
  }

  /** Fails every call matching `filter` (all when omitted). */
  failAll(err: (call: PendingCall) => ParleyError, filter: (call: PendingCall) => boolean = () => true): number {
    let count = 0;
    for (const call of [...this.#calls.values()]) {
      if (!filter(call)) continue;
      call.fail(err(call));
      count++;
    }
    return count;
  }

  /** Resolves when no call is in flight, or after `ms`. */
  whenEmpty(ms: number): Promise<boolean> {
    if (this.#calls.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#emptyWaiters = this.#emptyWaiters.filter((w) => w !== waiter);
        resolve(false);
      }, ms);
      this.#emptyWaiters.push(waiter);
    });
  }

  #notifyEmpty(): void {
    const waiters = this.#emptyWaiters;
    this.#emptyWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

export function abortError(signal: AbortSignal): ParleyError {
  const reason: unknown = signal.reason;
  const detail = reason instanceof Error ? reason.message : reason === undefined ? '' : String(reason);
  return new ParleyError('ABORTED', `the call was aborted${detail ? `: ${detail}` : ''}`, { cause: reason });
}

export function asParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  return new ParleyError('BAD_RESPONSE', `unexpected error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
