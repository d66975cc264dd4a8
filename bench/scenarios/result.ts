/** The shape every scenario reports in: what the table, the JSON and the chart read. */
import type { Spread } from '../stats.ts';

export interface ContenderResult {
  name: string;
  unit: string;
  /** One figure per round, in round order. */
  rounds: number[];
  median: number;
  /** Per-round value / the floor's value in the same round, and the median of those. */
  ratioVsFloor?: { perRound: number[]; median: number };
  /** Latency distribution of single operations (ms), pooled over rounds. */
  latencyMs?: Spread;
  /** Side figures (event-loop delay, tokens per stream, ...), each a median over rounds. */
  metrics?: Record<string, number>;
  /** The side figures round by round. */
  metricRounds?: Record<string, number[]>;
}

export interface BarResult {
  contender: string;
  label: string;
  observed: number;
  /** Undefined: reported for information, no goal set. */
  threshold?: number;
  op: '<=' | '>=' | '<' | '==';
  unit: string;
  pass?: boolean;
}

export interface ScenarioResult {
  id: string;
  title: string;
  unit: string;
  higherIsBetter: boolean;
  floor?: string;
  contenders: ContenderResult[];
  bars: BarResult[];
  skipped: { name: string; reason: string }[];
  notes: string[];
  durationMs: number;
}

export function bar(contender: string, label: string, observed: number, op: BarResult['op'], threshold: number | undefined, unit: string): BarResult {
  let pass: boolean | undefined;
  if (threshold !== undefined && Number.isFinite(observed)) {
    pass = op === '<=' ? observed <= threshold : op === '>=' ? observed >= threshold : op === '<' ? observed < threshold : observed === threshold;
  } else if (threshold !== undefined) pass = false;
  return { contender, label, observed, threshold, op, unit, pass };
}
