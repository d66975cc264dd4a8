/** Chat at concurrency 1 over the OpenAI protocol: what parley adds to one call's latency. */
import { OPENAI_CONTENDERS } from '../contenders/index.ts';
import type { Plan } from '../plan.ts';
import { median, pairedDifference, percentile } from '../stats.ts';
import { THREAD_ROUND_TRIP, threadRoundTrip } from '../thread-hop.ts';
import { SHORT_CHAT } from '../workload.ts';
import { find, runComparison, type BenchEnv } from './compare.ts';
import { closedLoop } from './load.ts';
import { bar, type ScenarioResult } from './result.ts';

const ADDED_P50_BAR_US = 60;
/** Issue #20: parley's added latency at most a bare thread round trip (same run) plus this. */
const ADDED_BEYOND_ROUND_TRIP_BAR_US = 10;

export async function chatLatency(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  const result = await runComparison(
    {
      id: 'chat-c1',
      title: 'chat c=1 (openai) p50',
      unit: 'µs',
      higherIsBetter: false,
      // The round trip runs in the same interleaved rounds: see thread-hop.ts.
      contenders: [...OPENAI_CONTENDERS, threadRoundTrip()],
      rounds: plan.rounds,
      warmup: async (client) => void (await closedLoop(async () => (await client.chat(SHORT_CHAT), 1), { concurrency: 1, maxOps: plan.warmupOps })),
      async measure(client, latencies) {
        const round = await closedLoop(async () => (await client.chat(SHORT_CHAT), 1), { concurrency: 1, maxOps: plan.latencyChats });
        if (round.failures) throw new Error(`chat c=1: ${round.failures} failures: ${round.firstError}`);
        for (const v of round.latencies.values) latencies.add(v);
        return { value: percentile(round.latencies.values, 50) * 1000, metrics: { p99Us: percentile(round.latencies.values, 99) * 1000 } };
      },
    },
    env,
  );
  const floor = find(result, result.floor!)!;
  const hop = find(result, THREAD_ROUND_TRIP)!;
  for (const c of result.contenders) {
    if (c === floor || c === hop) continue;
    const added = pairedDifference(c.rounds, floor.rounds);
    c.metrics = { ...c.metrics, addedP50Us: added.median };
    if (!c.name.startsWith('parley')) continue;
    // Per round: this client's p50 minus the floor's and the round trip's, all three from that round.
    const beyond = median(added.perRound.map((us, i) => us - hop.rounds[i]!));
    c.metrics.addedBeyondThreadRoundTripUs = beyond;
    result.bars.push(bar(c.name, 'added p50 vs undici', added.median, '<=', ADDED_P50_BAR_US, 'µs'));
    result.bars.push(bar(c.name, 'added p50 beyond a bare thread round trip', beyond, '<=', c.name === 'parley w1' ? ADDED_BEYOND_ROUND_TRIP_BAR_US : undefined, 'µs'));
  }
  result.notes.push(`a bare postMessage round trip to an idle echo thread: ${hop.median.toFixed(0)} µs p50 on this machine (rounds ${hop.rounds.map((v) => v.toFixed(0)).join(', ')}); "beyond" subtracts each round's own`);
  return result;
}
