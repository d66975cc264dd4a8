/**
 * Recent latency per provider, for stats(): p50 and p99 of the duration of
 * the chats and streams that ended well, and of a stream's time to its first
 * events. Each figure is a fixed-size log histogram (8 buckets per doubling,
 * so a percentile is at most 9% high), never a list of samples: recording
 * is an index computation and an increment, whatever the call rate.
 *
 * "Recent" is two half-windows: figures cover the current half and the one
 * before it, so between WINDOW_MS / 2 and WINDOW_MS of calls. No timer runs;
 * a half-window rotates when a call ends or stats() reads after its end.
 */

/** ms covered by the figures (at least half of it). */
export const LATENCY_WINDOW_MS = 60_000;
const HALF_MS = LATENCY_WINDOW_MS / 2;
const BUCKETS_PER_DOUBLING = 8;
/** ms; the upper bound of the first bucket. */
const MIN_MS = 0.125;
/** 24 doublings above MIN_MS: about 35 minutes, longer than any deadline worth having. */
const BUCKETS = 24 * BUCKETS_PER_DOUBLING;

/** p50 and p99 in ms (each the upper bound of its bucket, rounded to 0.01 ms). */
export interface Percentiles {
  p50: number;
  p99: number;
}

export interface ProviderLatency {
  provider: string;
  /** ms covered: the figures count calls that ended within the last windowMs (at least half of it). */
  windowMs: number;
  /** Chats and streams that ended well in the window. */
  calls: number;
  /** From the call's start to its result (a stream: to its end message). Undefined with no call. */
  durationMs?: Percentiles;
  /** Streams only: from the start to the first events reaching the host. Undefined with no stream. */
  ttftMs?: Percentiles;
}

function bucketOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0;
  const i = Math.ceil(Math.log2(ms / MIN_MS) * BUCKETS_PER_DOUBLING);
  return i < BUCKETS ? i : BUCKETS - 1;
}

function upperBound(bucket: number): number {
  return Math.round(MIN_MS * 2 ** (bucket / BUCKETS_PER_DOUBLING) * 100) / 100;
}

/** One figure over two half-windows. */
class Histogram {
  current = new Uint32Array(BUCKETS);
  previous = new Uint32Array(BUCKETS);
  currentCount = 0;
  previousCount = 0;

  add(ms: number): void {
    this.current[bucketOf(ms)]!++;
    this.currentCount++;
  }

  rotate(halves: number): void {
    if (halves === 1) {
      const reused = this.previous;
      this.previous = this.current;
      this.previousCount = this.currentCount;
      reused.fill(0);
      this.current = reused;
    } else {
      this.previous.fill(0);
      this.current.fill(0);
      this.previousCount = 0;
    }
    this.currentCount = 0;
  }

  get count(): number {
    return this.currentCount + this.previousCount;
  }

  percentiles(): Percentiles | undefined {
    const total = this.count;
    if (total === 0) return undefined;
    return { p50: this.#quantile(total, 0.5), p99: this.#quantile(total, 0.99) };
  }

  #quantile(total: number, q: number): number {
    const rank = Math.ceil(total * q);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.current[i]! + this.previous[i]!;
      if (seen >= rank) return upperBound(i);
    }
    return upperBound(BUCKETS - 1);
  }
}

class ProviderWindow {
  half = 0;
  readonly duration = new Histogram();
  readonly ttft = new Histogram();

  /** Moves the window to the half-window `half` (performance.now() / HALF_MS). */
  advance(half: number): void {
    if (half <= this.half) return;
    const halves = half - this.half;
    this.duration.rotate(halves);
    this.ttft.rotate(halves);
    this.half = half;
  }
}

export class LatencyWindows {
  readonly #providers = new Map<string, ProviderWindow>();

  /** A call to `provider` ended well; times are performance.now() values. */
  record(provider: string, startedAt: number, endedAt: number, firstEventAt: number | undefined): void {
    let window = this.#providers.get(provider);
    if (window === undefined) {
      window = new ProviderWindow();
      window.half = Math.floor(endedAt / HALF_MS);
      this.#providers.set(provider, window);
    }
    window.advance(Math.floor(endedAt / HALF_MS));
    window.duration.add(endedAt - startedAt);
    if (firstEventAt !== undefined) window.ttft.add(firstEventAt - startedAt);
  }

  /** The figures of `provider` now (an empty window when it had no call). */
  snapshot(provider: string): ProviderLatency {
    const window = this.#providers.get(provider);
    const out: ProviderLatency = { provider, windowMs: LATENCY_WINDOW_MS, calls: 0 };
    if (window === undefined) return out;
    window.advance(Math.floor(performance.now() / HALF_MS));
    out.calls = window.duration.count;
    const duration = window.duration.percentiles();
    if (duration) out.durationMs = duration;
    const ttft = window.ttft.percentiles();
    if (ttft) out.ttftMs = ttft;
    return out;
  }
}
