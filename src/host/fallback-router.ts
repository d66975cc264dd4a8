/**
 * Routes a call to its provider, or through an ordered list of providers:
 * when one fails before anything reached the caller (unreachable, broken
 * connection, retryable HTTP status after its retries) the next is tried.
 * A provider that keeps failing is skipped for a cooldown, as a circuit
 * breaker would, then probed again with one call.
 */
import { ParleyError } from '../shared/errors.ts';
import type { HealthReport, StreamEvent } from '../shared/types.ts';

export interface OpenedStream {
  next(): Promise<IteratorResult<StreamEvent>>;
  /** The caller left early: cancel the request. */
  leave(): void;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ProviderHealthStats {
  provider: string;
  /** closed: in use; open: skipped until cooldownUntil; half-open: the next call is a probe. */
  breaker: BreakerState;
  consecutiveFailures: number;
  successes: number;
  failures: number;
  cooldownUntil?: string;
  lastError?: { code: string; message: string };
}

export interface BreakerOptions {
  /** Consecutive provider failures that open the breaker. @default 3 */
  failureThreshold?: number;
  /** @default 30_000 */
  cooldownMs?: number;
}

interface Health {
  consecutiveFailures: number;
  successes: number;
  failures: number;
  openUntil: number;
  lastError?: { code: string; message: string };
}

/** Failures that say the provider, not the request, is the problem: the ones a call falls back on. */
export function isProviderFailure(err: unknown): err is ParleyError {
  if (!(err instanceof ParleyError)) return false;
  if (err.code === 'UNREACHABLE' || err.code === 'CONNECTION') return true;
  return err.code === 'HTTP' && err.retryable;
}

export class FallbackRouter {
  #default: string;
  readonly #health = new Map<string, Health>();
  readonly #threshold: number;
  readonly #cooldownMs: number;
  /** Told when a provider's breaker opens (again) or closes; for the runtime's logger. */
  onBreakerChange: ((provider: string, state: 'open' | 'closed', lastError: { code: string; message: string } | undefined) => void) | undefined = undefined;

  /** `options` as resolved at the door (every field set). */
  constructor(defaultProvider: string, names: string[], options: Required<BreakerOptions>) {
    this.#default = defaultProvider;
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    for (const name of names) this.#health.set(name, { consecutiveFailures: 0, successes: 0, failures: 0, openUntil: 0 });
  }

  /**
   * Live settings: the providers known from now on. A kept provider keeps
   * its breaker; a new one starts closed; a removed one is forgotten (a call
   * still in flight on it records nothing).
   */
  configure(defaultProvider: string, names: string[]): void {
    this.#default = defaultProvider;
    for (const name of [...this.#health.keys()]) if (!names.includes(name)) this.#health.delete(name);
    for (const name of names) if (!this.#health.has(name)) this.#health.set(name, { consecutiveFailures: 0, successes: 0, failures: 0, openUntil: 0 });
  }

  /** The providers to try, in order; unknown names are an INVALID_REQUEST. */
  route(provider: string | string[] | undefined): string[] {
    const names = provider === undefined ? [this.#default] : Array.isArray(provider) ? provider : [provider];
    for (const name of names) this.single(name);
    return names;
  }

  single(provider: string | undefined): string {
    const name = provider ?? this.#default;
    if (!this.#health.has(name)) {
      throw new ParleyError('INVALID_REQUEST', `request.provider names unknown provider "${name}" (configured: ${[...this.#health.keys()].join(', ')})`, {
        provider: name,
      });
    }
    return name;
  }

  async run<T>(route: string[], attempt: (provider: string) => Promise<T>): Promise<T> {
    const order = this.#order(route);
    for (let i = 0; ; i++) {
      const provider = order[i]!;
      try {
        return await attempt(provider);
      } catch (err) {
        if (i === order.length - 1 || !isProviderFailure(err)) throw err;
      }
    }
  }

  stream(route: string[], open: (provider: string) => OpenedStream): AsyncIterable<StreamEvent> {
    const order = this.#order(route);
    if (order.length === 1) return singleStream(order[0]!, open);
    let index = 0;
    let current: OpenedStream | undefined;
    let delivered = false;
    let finished = false;
    const step = async (): Promise<IteratorResult<StreamEvent>> => {
      if (finished) return { value: undefined, done: true };
      for (;;) {
        const provider = order[index]!;
        try {
          current ??= open(provider);
          const item = await current.next();
          if (item.done) finished = true;
          else if (item.value.type !== 'done') delivered = true;
          return item;
        } catch (err) {
          // Text already shown to the caller is never silently continued by
          // another provider: the caller decides what to do.
          if (delivered || index === order.length - 1 || !isProviderFailure(err)) {
            finished = true;
            throw err;
          }
          index++;
          current = undefined;
        }
      }
    };
    // A next() made before the last one settled runs after it, so that calls
    // settle in order and a failure moves to the next provider only once.
    let last: Promise<IteratorResult<StreamEvent>> | undefined;
    const next = (): Promise<IteratorResult<StreamEvent>> => (last = last ? last.then(step, step) : step());
    return {
      [Symbol.asyncIterator]() {
        return {
          next,
          async return() {
            if (!finished) {
              finished = true;
              current?.leave();
            }
            return { value: undefined, done: true };
          },
        };
      },
    };
  }

  /** What a chat or stream call to `provider` came to; failures that are not the provider's are not counted. */
  record(provider: string, err: unknown): void {
    if (err === undefined) this.#succeeded(provider);
    else this.#observe(provider, err);
  }

  observeHealth(report: HealthReport): void {
    const health = this.#health.get(report.provider);
    if (!health) return;
    if (report.ok && health.openUntil > 0 && Date.now() >= health.openUntil) this.#succeeded(report.provider);
  }

  stats(): ProviderHealthStats[] {
    const now = Date.now();
    return [...this.#health.entries()].map(([provider, h]) => {
      const breaker: BreakerState = h.openUntil === 0 ? 'closed' : now < h.openUntil ? 'open' : 'half-open';
      const out: ProviderHealthStats = {
        provider,
        breaker,
        consecutiveFailures: h.consecutiveFailures,
        successes: h.successes,
        failures: h.failures,
      };
      if (breaker === 'open') out.cooldownUntil = new Date(h.openUntil).toISOString();
      if (h.lastError) out.lastError = h.lastError;
      return out;
    });
  }

  /** Open breakers go to the back; if every provider is cooling down, all are still tried. */
  #order(route: string[]): string[] {
    if (route.length === 1) return route;
    const now = Date.now();
    // A provider removed by configure() since the route was made counts as ready: its worker refuses it.
    const ready = route.filter((p) => (this.#health.get(p)?.openUntil ?? 0) <= now);
    const cooling = route.filter((p) => (this.#health.get(p)?.openUntil ?? 0) > now);
    return [...ready, ...cooling];
  }

  #succeeded(provider: string): void {
    const h = this.#health.get(provider);
    if (!h) return;
    h.successes++;
    h.consecutiveFailures = 0;
    if (h.openUntil > 0) this.onBreakerChange?.(provider, 'closed', undefined);
    h.openUntil = 0;
  }

  #observe(provider: string, err: unknown): void {
    if (!isProviderFailure(err)) return;
    const h = this.#health.get(provider);
    if (!h) return;
    h.failures++;
    h.consecutiveFailures++;
    h.lastError = { code: err.code, message: err.message };
    // A failed probe (half-open) re-opens at once; a closed breaker opens at the threshold.
    if (h.openUntil > 0 || h.consecutiveFailures >= this.#threshold) {
      h.openUntil = Date.now() + this.#cooldownMs;
      this.onBreakerChange?.(provider, 'open', h.lastError);
    }
  }
}

/**
 * One provider, nothing to fall back to: the stream's own iterator, opened
 * on the first read. Every token passes through here, so it adds no promise
 * of its own.
 */
function singleStream(provider: string, open: (provider: string) => OpenedStream): AsyncIterable<StreamEvent> {
  let current: OpenedStream | undefined;
  let failed = false;
  let left = false;
  return {
    [Symbol.asyncIterator]() {
      return {
        next(): Promise<IteratorResult<StreamEvent>> {
          if (failed || left) return Promise.resolve({ value: undefined, done: true });
          if (!current) {
            try {
              current = open(provider);
            } catch (err) {
              failed = true;
              return Promise.reject(err);
            }
          }
          return current.next();
        },
        async return(): Promise<IteratorResult<StreamEvent>> {
          if (!left) {
            left = true;
            current?.leave();
          }
          return { value: undefined, done: true };
        },
      };
    },
  };
}
