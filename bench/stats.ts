/**
 * The few statistics the bench reports: medians, percentiles, and ratios
 * taken pair by pair (round by round) so a noisy machine moves both sides of
 * each ratio together instead of skewing one lone absolute figure.
 */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank: the smallest value with at least p% of the values at or below it.
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Spread {
  p50: number;
  p90: number;
  p99: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  return {
    p50: percentile(values, 50),
    p90: percentile(values, 90),
    p99: percentile(values, 99),
    min: values.length ? Math.min(...values) : Number.NaN,
    max: values.length ? values.reduce((a, b) => (b > a ? b : a), -Infinity) : Number.NaN,
    n: values.length,
  };
}

/** Per-round a/b, then the median of those ratios. Rounds missing on either side are skipped. */
export function pairedRatio(a: readonly number[], b: readonly number[]): { perRound: number[]; median: number } {
  const perRound: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (Number.isFinite(a[i]!) && Number.isFinite(b[i]!) && b[i] !== 0) perRound.push(a[i]! / b[i]!);
  }
  return { perRound, median: median(perRound) };
}

/** Per-round a-b, then the median of those differences. */
export function pairedDifference(a: readonly number[], b: readonly number[]): { perRound: number[]; median: number } {
  const perRound: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) perRound.push(a[i]! - b[i]!);
  return { perRound, median: median(perRound) };
}

/** Keeps a bounded, evenly thinned sample of a long series (for latency distributions in the report). */
export class Reservoir {
  readonly #values: number[] = [];
  #seen = 0;
  constructor(readonly capacity = 20_000) {}

  add(value: number): void {
    this.#seen++;
    if (this.#values.length < this.capacity) this.#values.push(value);
    else {
      const slot = Math.floor(Math.random() * this.#seen);
      if (slot < this.capacity) this.#values[slot] = value;
    }
  }

  get values(): readonly number[] {
    return this.#values;
  }
}
