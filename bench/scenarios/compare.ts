/**
 * Runs one workload on several contenders in interleaved rounds (A B C, then
 * C B A, ...) in the same process and the same minute, so drift on a shared
 * machine lands on every contender alike; then reduces each contender's rounds
 * to a median and a per-round ratio against the floor.
 */
import type { Client, Contender } from '../contenders/index.ts';
import { parley } from '../contenders/parley.ts';
import { baselineParley } from '../parley-module.ts';
import { Progress } from '../progress.ts';
import { median, pairedRatio, Reservoir, spread } from '../stats.ts';
import type { ContenderResult, ScenarioResult } from './result.ts';

export interface RoundSample {
  value: number;
  metrics?: Record<string, number>;
}

export interface ComparisonSpec {
  id: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  contenders: Contender[];
  rounds: number;
  warmup(client: Client): Promise<void>;
  /** One round of one contender; latencies go into the contender's reservoir. */
  measure(client: Client, latencies: Reservoir): Promise<RoundSample>;
}

export interface BenchEnv {
  url: string;
  port: number;
  quick: boolean;
}

export async function runComparison(spec: ComparisonSpec, env: BenchEnv): Promise<ScenarioResult> {
  const started = performance.now();
  const skipped: ScenarioResult['skipped'] = [];
  const running: { contender: Contender; client: Client; rounds: number[]; metrics: Record<string, number[]>; latencies: Reservoir }[] = [];
  const chosen = withBaseline(env.quick ? spec.contenders.filter((c) => !c.fullRunOnly) : spec.contenders);
  for (const c of spec.contenders) if (!chosen.includes(c)) skipped.push({ name: c.name, reason: 'full run only' });
  const progress = new Progress(spec.title, spec.rounds * chosen.length + chosen.length);
  try {
    for (const contender of chosen) {
      progress.tick(`warm-up ${contender.name}`);
      const reason = await contender.unavailable?.(env.url);
      if (reason) {
        skipped.push({ name: contender.name, reason });
        continue;
      }
      const client = await contender.open(env.url);
      running.push({ contender, client, rounds: [], metrics: {}, latencies: new Reservoir(20_000) });
      await spec.warmup(client);
    }
    progress.update(chosen.length);
    for (let r = 0; r < spec.rounds; r++) {
      const order = r % 2 === 0 ? running : [...running].reverse();
      for (const entry of order) {
        progress.tick(`round ${r + 1}/${spec.rounds} ${entry.contender.name}`);
        const sample = await spec.measure(entry.client, entry.latencies).catch((err: unknown) => {
          throw new Error(`${spec.title}: ${entry.contender.name}, round ${r + 1}: ${(err as Error)?.message ?? err}`, { cause: err });
        });
        entry.rounds.push(sample.value);
        for (const [key, value] of Object.entries(sample.metrics ?? {})) (entry.metrics[key] ??= []).push(value);
      }
    }
  } finally {
    for (const entry of running) await entry.client.close().catch(() => undefined);
  }
  progress.finish(`${((performance.now() - started) / 1000).toFixed(1)}s`);

  const floor = running.find((e) => e.contender.floor);
  const contenders: ContenderResult[] = running.map((e) => {
    const out: ContenderResult = { name: e.contender.name, unit: spec.unit, rounds: e.rounds, median: median(e.rounds), latencyMs: spread(e.latencies.values) };
    if (floor) out.ratioVsFloor = pairedRatio(e.rounds, floor.rounds);
    const metrics = Object.entries(e.metrics);
    if (metrics.length) {
      out.metrics = Object.fromEntries(metrics.map(([k, v]) => [k, median(v)]));
      out.metricRounds = e.metrics;
    }
    return out;
  });
  return {
    id: spec.id,
    title: spec.title,
    unit: spec.unit,
    higherIsBetter: spec.higherIsBetter,
    ...(floor ? { floor: floor.contender.name } : {}),
    contenders,
    bars: [],
    skipped,
    notes: [],
    durationMs: Math.round(performance.now() - started),
  };
}

/** With --baseline, `parley w1 baseline` runs right after `parley w1` wherever that runs. */
function withBaseline(list: Contender[]): Contender[] {
  const at = list.findIndex((c) => c.name === 'parley w1');
  if (at < 0 || !baselineParley()) return list;
  return [...list.slice(0, at + 1), parley('openai', 1, { label: 'baseline', options: {}, baseline: true }), ...list.slice(at + 1)];
}

export function find(result: ScenarioResult, name: string) {
  return result.contenders.find((c) => c.name === name);
}

/** Median of per-round a/b between two contenders of the same comparison. */
export function ratioBetween(result: ScenarioResult, a: string, b: string): number {
  const x = find(result, a);
  const y = find(result, b);
  return x && y ? pairedRatio(x.rounds, y.rounds).median : Number.NaN;
}
