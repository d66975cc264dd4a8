/**
 * How the host judges one worker's heartbeat, the same way in both modes:
 * a worker silent past the timeout is wedged. Two allowances keep that
 * judgement fair: a thread still loading its modules cannot answer yet, and
 * a host thread that was itself blocked heard nothing through no fault of
 * the worker's.
 */

/** How long a new thread may take to load before its silence counts as a wedge. */
const STARTUP_ALLOWANCE_MS = 15_000;

export class Liveness {
  #lastBeat: number;
  #answered = false;

  constructor(now: number) {
    this.#lastBeat = now;
  }

  /** A beat arrived. True for the first one: the thread runs parley's code. */
  beat(now: number): boolean {
    this.#lastBeat = now;
    if (this.#answered) return false;
    this.#answered = true;
    return true;
  }

  /** The host thread was blocked: the beats are queued behind it, so silence so far does not count. */
  forgive(now: number): void {
    this.#lastBeat = now;
  }

  /** The silence in ms when it is past what this worker is allowed, else undefined. */
  wedgedFor(now: number, timeoutMs: number): number | undefined {
    const silence = now - this.#lastBeat;
    const allowed = this.#answered ? timeoutMs : Math.max(STARTUP_ALLOWANCE_MS, timeoutMs);
    return silence > allowed ? silence : undefined;
  }
}
