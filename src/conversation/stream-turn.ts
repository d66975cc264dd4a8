/**
 * The iterator of one streamed turn (what conv.stream() returns). It takes
 * its place in the turn queue on the first next(), records the turn when the
 * done event arrives, and lets the next turn in before it hands that event
 * out, so a reader that stops at done holds nothing.
 *
 * - Every next() settles, in the order they were called, within the turn's
 *   deadline at the latest, whatever the provider stream does.
 * - It is its own async iterable: taking a second iterator continues the
 *   same turn; once the turn is over, next() resolves { done: true }.
 * - return() ends the turn unrecorded (leaving a for-await loop early).
 * - An iterator dropped without return() is stopped at the turn's deadline:
 *   the queue moves on, the provider stream is cancelled, and a later next()
 *   throws the TIMEOUT once, then resolves done.
 */
import { ParleyError } from '../shared/errors.ts';
import type { ChatResult, StreamEvent } from '../shared/types.ts';
import type { Turn } from './turn-queue.ts';

export interface StreamTurnSteps {
  /** Waits for the turn's place in the queue. */
  enter(): Promise<Turn>;
  /** Starts the provider stream for the admitted turn. */
  open(turn: Turn): AsyncIterable<StreamEvent>;
  /** Records the completed turn. */
  record(result: ChatResult): Promise<void>;
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

export class StreamTurn implements AsyncIterableIterator<StreamEvent> {
  readonly #steps: StreamTurnSteps;
  #turn: Turn | undefined;
  #inner: AsyncIterator<StreamEvent> | undefined;
  #over = false;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(steps: StreamTurnSteps) {
    this.#steps = steps;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<StreamEvent>> {
    return this.#inOrder(() => this.#step());
  }

  return(): Promise<IteratorResult<StreamEvent>> {
    return this.#inOrder(async () => {
      this.#end();
      return DONE;
    });
  }

  /** Runs after every earlier next()/return() settled: that is what keeps them in order. */
  #inOrder(step: () => Promise<IteratorResult<StreamEvent>>): Promise<IteratorResult<StreamEvent>> {
    const run = this.#chain.then(step);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #step(): Promise<IteratorResult<StreamEvent>> {
    if (this.#over) return DONE;
    try {
      if (!this.#turn) {
        const turn = await this.#steps.enter();
        this.#turn = turn;
        turn.onStop = () => this.#cancelInner();
        this.#inner = this.#steps.open(turn)[Symbol.asyncIterator]();
      }
      const turn = this.#turn;
      if (turn.stopped || !this.#inner) throw turn.stopped ?? new ParleyError('SHUTDOWN', 'the turn was stopped');
      const { value, done } = await turn.race(this.#inner.next());
      if (done) throw new ParleyError('INCOMPLETE', 'the stream ended without a done event; the turn was not recorded');
      if (value.type === 'done') {
        await turn.commit(() => this.#steps.record(value.result));
        this.#end();
      }
      return { value, done: false };
    } catch (err) {
      this.#end();
      throw err;
    }
  }

  #end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#cancelInner();
    this.#turn?.finish();
  }

  /** Leaving the provider stream cancels its request (a finished one has nothing left to cancel). */
  #cancelInner(): void {
    const inner = this.#inner;
    this.#inner = undefined;
    try {
      inner?.return?.()?.catch(() => {});
    } catch {
      // A provider stream whose return() throws has nothing more we can release.
    }
  }
}
