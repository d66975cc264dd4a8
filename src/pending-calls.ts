/**
 * Every call in flight lives in one map, keyed by call id, with the worker
 * it runs on. Whatever happens (result, error, deadline, abort, worker
 * death, shutdown) goes through `settle`, which runs at most once per call
 * and clears the call's timer and abort listener.
 */
import { ParleyError } from './errors.ts';

export interface PendingCall {
  readonly id: number;
  readonly deadlineAt: number;
  /** Worker the call was sent to (undefined while it waits for one). */
  workerId: number | undefined;
  /** Fail the call (first settle wins); `fromWorker` when the worker itself reported the failure. */
  fail(err: ParleyError, fromWorker?: boolean): void;
  readonly settled: boolean;
}

export interface OpenCallOptions {
  timeoutMs: number;
  signal: AbortSignal | undefined;
  describe: () => string;
  /** Runs once when the call fails, before it settles; `fromWorker` as given to fail(). */
  onFail: (call: PendingCall, err: ParleyError, fromWorker: boolean) => void;
  /** Runs once, when the call settles either way. */
  onSettle: (call: PendingCall, err: ParleyError | undefined) => void;
}

export class PendingCalls {
  #nextId = 1;
  readonly #calls = new Map<number, PendingCall>();
  #emptyWaiters: (() => void)[] = [];

  get size(): number {
    return this.#calls.size;
  }

  /** Registers a call and returns it with its settling functions. */
  open(options: OpenCallOptions): { call: PendingCall; succeed: () => boolean } {
    const id = this.#nextId++;
    const started = Date.now();
    const deadlineAt = started + options.timeoutMs;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const signal = options.signal;
    const calls = this.#calls;

    const finish = (err: ParleyError | undefined): boolean => {
      if (settled) return false;
      settled = true;
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      calls.delete(id);
      options.onSettle(call, err);
      if (calls.size === 0) this.#notifyEmpty();
      return true;
    };

    const call: PendingCall = {
      id,
      deadlineAt,
      workerId: undefined,
      get settled() {
        return settled;
      },
      fail(err: ParleyError, fromWorker = false) {
        if (settled) return;
        options.onFail(call, err, fromWorker);
        finish(err);
      },
    };

    const onAbort = () => call.fail(abortError(signal!));
    calls.set(id, call);
    signal?.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(() => {
      call.fail(new ParleyError('TIMEOUT', `${options.describe()} timed out after ${options.timeoutMs} ms (${Date.now() - started} ms elapsed)`));
    }, options.timeoutMs);
    return { call, succeed: () => finish(undefined) };
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
