/**
 * Streams at concurrency 16, every text token handed to the host thread:
 * tokens per second, and the host thread's event-loop delay while it runs
 * (reported as a scenario of its own). The same load at concurrency 64 is
 * reported for reference, without bars.
 */
import { OPENAI_CONTENDERS, STREAM_CONTENDERS } from '../contenders/index.ts';
import type { Plan } from '../plan.ts';
import { median, pairedRatio } from '../stats.ts';
import { STREAM_LONG } from '../workload.ts';
import { find, ratioBetween, runComparison, type BenchEnv } from './compare.ts';
import { closedLoop } from './load.ts';
import { bar, type ContenderResult, type ScenarioResult } from './result.ts';

const EVENT_LOOP_P99_BAR_MS = 3;

/** What the host does with a token: little, but not nothing, so no client can skip the delivery. */
let sink = 0;
const consume = (text: string) => {
  sink += text.length;
};

export async function streamThroughput(env: BenchEnv, plan: Plan): Promise<ScenarioResult[]> {
  const result = await streamsAt(16, env, plan);
  for (const c of result.contenders.filter((c) => c.name.startsWith('parley'))) {
    result.bars.push(bar(c.name, '× undici+parse', c.ratioVsFloor!.median, '>=', 0.95, '×'));
    result.bars.push(bar(c.name, '× openai SDK', ratioBetween(result, c.name, 'openai SDK'), '>=', 5, '×'));
  }
  return [result, eventLoopDelay(result)];
}

export function streamThroughput64(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  return streamsAt(64, env, plan);
}

async function streamsAt(concurrency: number, env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  let tokensPerStream = 0;
  const result = await runComparison(
    {
      id: `stream-c${concurrency}`,
      title: `stream c=${concurrency} (openai)`,
      unit: 'tok/s',
      higherIsBetter: true,
      contenders: concurrency === 16 ? STREAM_CONTENDERS : OPENAI_CONTENDERS,
      rounds: plan.rounds,
      warmup: async (client) =>
        void (await closedLoop(() => client.stream(STREAM_LONG, consume), { concurrency, maxOps: Math.ceil(plan.warmupOps / 4) })),
      async measure(client, latencies) {
        const round = await closedLoop(() => client.stream(STREAM_LONG, consume), {
          concurrency,
          durationMs: plan.roundMs,
          latencies,
          eventLoop: true,
        });
        if (round.failures) throw new Error(`stream: ${round.failures} failures: ${round.firstError}`);
        const perStream = round.units / round.ops;
        if (tokensPerStream && perStream !== tokensPerStream) throw new Error(`stream: ${perStream} tokens per stream, expected ${tokensPerStream}`);
        tokensPerStream = perStream;
        return { value: (round.units / round.elapsedMs) * 1000, metrics: { eventLoopP99Ms: round.eventLoopP99Ms!, streamsPerSec: (round.ops / round.elapsedMs) * 1000 } };
      },
    },
    env,
  );
  result.notes.push(`${tokensPerStream} text tokens per stream`);
  return result;
}

/** The same rounds seen from the host thread: event-loop delay p99 per round. */
function eventLoopDelay(stream: ScenarioResult): ScenarioResult {
  const delays = (c: ContenderResult) => c.metricRounds?.eventLoopP99Ms ?? [];
  const floor = delays(find(stream, stream.floor!)!);
  const contenders: ContenderResult[] = stream.contenders.map((c) => ({
    name: c.name,
    unit: 'ms',
    rounds: delays(c),
    median: median(delays(c)),
    ratioVsFloor: pairedRatio(delays(c), floor),
  }));
  const out: ScenarioResult = {
    id: 'event-loop-p99',
    title: 'host event-loop delay p99 while streaming',
    unit: 'ms',
    higherIsBetter: false,
    floor: stream.floor!,
    contenders,
    bars: [],
    skipped: stream.skipped,
    notes: [],
    durationMs: 0,
  };
  for (const c of contenders.filter((c) => c.name.startsWith('parley'))) {
    out.bars.push(bar(c.name, 'p99 delay', c.median, '<=', EVENT_LOOP_P99_BAR_MS, 'ms'));
  }
  const sdk = contenders.find((c) => c.name === 'openai SDK');
  if (sdk) out.notes.push(`openai SDK in the same run: ${sdk.median.toFixed(2)} ms`);
  return out;
}
