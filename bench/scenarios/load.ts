/**
 * Load generators: a closed loop of N concurrent callers for a fixed time,
 * and its measurements. Every operation's latency is kept (bounded) for the
 * distribution charts.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Reservoir } from '../stats.ts';

export interface LoadResult {
  ops: number;
  /** Sum of what the operations returned (e.g. tokens). */
  units: number;
  elapsedMs: number;
  failures: number;
  firstError?: string;
  latencies: Reservoir;
  /** Host-thread event-loop delay p99 in ms, when asked for. */
  eventLoopP99Ms?: number;
}

export interface LoadOptions {
  concurrency: number;
  durationMs?: number;
  /** Stop after this many operations in total (instead of, or besides, the duration). */
  maxOps?: number;
  eventLoop?: boolean;
  latencies?: Reservoir;
  onProgress?: (ops: number) => void;
}

export async function closedLoop(op: () => Promise<number>, o: LoadOptions): Promise<LoadResult> {
  const latencies = o.latencies ?? new Reservoir(5_000);
  const histogram = o.eventLoop ? monitorEventLoopDelay({ resolution: 1 }) : undefined;
  const started = performance.now();
  const deadline = o.durationMs === undefined ? Infinity : started + o.durationMs;
  const maxOps = o.maxOps ?? Infinity;
  let issued = 0;
  let ops = 0;
  let units = 0;
  let failures = 0;
  let firstError: string | undefined;
  histogram?.enable();
  const caller = async () => {
    while (issued < maxOps && performance.now() < deadline) {
      issued++;
      const t0 = performance.now();
      try {
        // Not `units += await op()`: that reads `units` before the await and loses the other callers' updates.
        const n = await op();
        units += n;
        latencies.add(performance.now() - t0);
        ops++;
      } catch (err) {
        failures++;
        firstError ??= (err as Error)?.message ?? String(err);
      }
      if (o.onProgress && (ops & 255) === 0) o.onProgress(ops);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, caller));
  const elapsedMs = performance.now() - started;
  histogram?.disable();
  const result: LoadResult = { ops, units, elapsedMs, failures, latencies };
  if (firstError !== undefined) result.firstError = firstError;
  if (histogram) result.eventLoopP99Ms = histogram.percentile(99) / 1e6;
  return result;
}
