/**
 * The queue for an origin's sockets, kept by parley instead of undici.
 *
 * With `connections` sockets busy, undici queues further requests inside its
 * pool, where nothing can take them out: a request there keeps its body
 * until a socket frees, whatever happened to its call (undici's own
 * `request()` API waits for a socket before it can abort too). So an Agent
 * is given at most `connections` requests at a time, and the rest wait here,
 * where a cancel removes them at once, body and all.
 *
 * A request holds its place from dispatch until undici reports it over
 * (onResponseEnd or onResponseError, one of which undici calls for every
 * dispatched request, a refused or aborted one included).
 */
export class SocketGate {
  readonly #capacity: number;
  #admitted = 0;
  readonly #waiting = new Set<() => void>();

  /** `capacity`: the Agent's `connections` per origin. */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** Requests waiting for a place. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /** Takes a place now if one is free. */
  tryEnter(): boolean {
    if (this.#admitted >= this.#capacity || this.#waiting.size > 0) return false;
    this.#admitted++;
    return true;
  }

  /**
   * Runs `admitted` once a place is free (the place is taken for it).
   * Returns the function that gives up the wait; it does nothing once admitted.
   */
  wait(admitted: () => void): () => void {
    const entry = () => {
      this.#admitted++;
      admitted();
    };
    this.#waiting.add(entry);
    return () => this.#waiting.delete(entry);
  }

  /** A request is over: its place goes to the longest waiting one. */
  leave(): void {
    this.#admitted--;
    for (const next of this.#waiting) {
      this.#waiting.delete(next);
      next();
      return;
    }
  }
}
