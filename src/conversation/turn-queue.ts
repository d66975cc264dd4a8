/**
 * A conversation's turns run one at a time, in the order they were called,
 * because each one is built on the history the one before it recorded.
 *
 * Every turn has one deadline for all of it: its wait in the queue, its call
 * and, for a stream, the reading of it. When the deadline passes, or the
 * turn's signal fires, or the conversation is closed under it, the turn is
 * stopped: a waiting turn leaves the queue, a running one lets the next turn
 * in at once, whatever its owner is doing. That is what keeps a caller who
 * dropped a stream iterator from holding the queue forever: nothing of the
 * turn is recorded after it was stopped.
 *
 * The one step a stop does not cut is the commit (writing the completed turn
 * to the store and the history): it is bounded by the disk, and cutting it
 * would leave the file and the history disagreeing.
 */
import { ParleyError } from '../shared/errors.ts';
import type { CallOptions } from '../shared/types.ts';

type Phase = 'waiting' | 'running' | 'committing' | 'finished';

export class Turn {
  readonly #queue: TurnQueue;
  readonly #timeoutMs: number | undefined;
  readonly #deadlineAt: number | undefined;
  readonly #signal: AbortSignal | undefined;
  #phase: Phase = 'waiting';
  #timer: NodeJS.Timeout | undefined;
  #onAbort: (() => void) | undefined;
  #stopped: ParleyError | undefined;
  /** Rejects with the stop reason; raced against the turn's work. */
  readonly #stop: Promise<never>;
  #rejectStop!: (err: ParleyError) => void;
  #admit!: { resolve: (turn: Turn) => void; reject: (err: ParleyError) => void };
  readonly admitted: Promise<Turn>;
  /** Called once when a running turn is stopped, so its owner can cancel the call it holds. */
  onStop: (() => void) | undefined;

  constructor(queue: TurnQueue, timeoutMs: number | undefined, signal: AbortSignal | undefined) {
    this.#queue = queue;
    this.#timeoutMs = timeoutMs;
    this.#signal = signal;
    this.#stop = new Promise<never>((_, reject) => (this.#rejectStop = reject));
    this.#stop.catch(() => {});
    this.admitted = new Promise<Turn>((resolve, reject) => (this.#admit = { resolve, reject }));
    this.admitted.catch(() => {});
    if (timeoutMs !== undefined) {
      this.#deadlineAt = Date.now() + timeoutMs;
      this.#timer = setTimeout(() => this.stop(this.#timeoutError()), timeoutMs);
    }
    if (signal) {
      this.#onAbort = () => {
        const where = this.#phase === 'waiting' ? ' while it waited for earlier turns' : '';
        this.stop(new ParleyError('ABORTED', `the turn was aborted${where}`, { cause: signal.reason }));
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Why the turn was stopped, if it was. */
  get stopped(): ParleyError | undefined {
    return this.#stopped;
  }

  /** Options for the provider call: what is left of the deadline, and the signal. Throws the stop reason if the turn was stopped. */
  callOptions(): CallOptions {
    if (this.#stopped) throw this.#stopped;
    const options: CallOptions = {};
    if (this.#deadlineAt !== undefined) options.timeoutMs = Math.max(1, this.#deadlineAt - Date.now());
    if (this.#signal) options.signal = this.#signal;
    return options;
  }

  /** Settles as `work` does, or rejects with the stop reason when the turn is stopped first. */
  race<T>(work: Promise<T>): Promise<T> {
    work.catch(() => {});
    return Promise.race([work, this.#stop]);
  }

  /** Runs `record` unless the turn was stopped; from here on nothing stops it. */
  async commit(record: () => Promise<void>): Promise<void> {
    if (this.#stopped) throw this.#stopped;
    this.#phase = 'committing';
    await record();
  }

  /** Stops the turn (see the file comment). Idempotent; a committing or finished turn is left alone. */
  stop(err: ParleyError): void {
    if (this.#phase === 'committing' || this.#phase === 'finished') return;
    const wasWaiting = this.#phase === 'waiting';
    this.#stopped = err;
    this.#rejectStop(err);
    if (wasWaiting) this.#admit.reject(err);
    else this.onStop?.();
    this.finish();
  }

  /** Lets the next turn in. Idempotent. */
  finish(): void {
    if (this.#phase === 'finished') return;
    this.#phase = 'finished';
    clearTimeout(this.#timer);
    if (this.#onAbort) this.#signal!.removeEventListener('abort', this.#onAbort);
    this.onStop = undefined;
    this.#queue.left(this);
  }

  /** Called by the queue when the turns before this one are done. */
  run(): void {
    this.#phase = 'running';
    this.#admit.resolve(this);
  }

  #timeoutError(): ParleyError {
    const where = this.#phase === 'waiting' ? `while it waited behind ${this.#queue.ahead(this)} earlier turn(s)` : 'before the turn finished';
    return new ParleyError('TIMEOUT', `the turn's ${this.#timeoutMs} ms deadline passed ${where}`);
  }
}

export class TurnQueue {
  #running: Turn | undefined;
  readonly #waiting: Turn[] = [];
  #closed: ParleyError | undefined;
  #idle: (() => void)[] = [];

  /**
   * Queues a turn behind the ones called before it. Resolves with the turn
   * once it runs; the caller must finish() it. Rejects with TIMEOUT when
   * `timeoutMs` passes first, ABORTED when the signal fires first (or had
   * fired), SHUTDOWN when the queue is closed first (or was).
   */
  enter(timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<Turn> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (signal?.aborted) return Promise.reject(new ParleyError('ABORTED', 'the turn was aborted before it started', { cause: signal.reason }));
    const turn = new Turn(this, timeoutMs, signal);
    this.#waiting.push(turn);
    this.#next();
    return turn.admitted;
  }

  /** Refuses new turns and stops the waiting ones with `err`; the running turn goes on. Idempotent. */
  close(err: ParleyError): void {
    this.#closed ??= err;
    for (const turn of [...this.#waiting]) turn.stop(err);
  }

  /** Stops the running turn with `err` (unless it is committing). */
  abandon(err: ParleyError): void {
    this.#running?.stop(err);
  }

  /** Resolves when no turn is running. */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** How many turns are ahead of a waiting one (the running one included). */
  ahead(turn: Turn): number {
    return this.#waiting.indexOf(turn) + (this.#running ? 1 : 0);
  }

  /** Called by a turn that finished or was stopped. */
  left(turn: Turn): void {
    if (this.#running === turn) this.#running = undefined;
    else {
      const index = this.#waiting.indexOf(turn);
      if (index !== -1) this.#waiting.splice(index, 1);
    }
    this.#next();
  }

  #next(): void {
    if (this.#running) return;
    const turn = this.#waiting.shift();
    if (turn) {
      this.#running = turn;
      turn.run();
      return;
    }
    const idle = this.#idle;
    this.#idle = [];
    for (const resolve of idle) resolve();
  }
}
