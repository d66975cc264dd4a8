/**
 * npm test runs the actor's suites twice: as written (workers: 1, the
 * dedicated Comlink actor) and again with PARLEY_TEST_WORKERS=2 (the piscina
 * pool), because pool mode promises the same behaviour behind the same API.
 */
import type { RuntimeStats } from '../../src/index.ts';

export const testWorkers = Number(process.env.PARLEY_TEST_WORKERS ?? 1);

/** Calls in flight across every worker. */
export function inFlightOf(stats: RuntimeStats): number {
  return stats.workers.reduce((sum, w) => sum + w.inFlight, 0);
}

/** A provider's transport figure (requests, retries, errors, connected...) summed over every worker. */
export function providerFigure(stats: RuntimeStats, provider: string, field: 'requests' | 'retries' | 'errors' | 'connected'): number {
  let sum = 0;
  for (const worker of stats.workers) for (const p of worker.providers) if (p.provider === provider) sum += p[field];
  return sum;
}
