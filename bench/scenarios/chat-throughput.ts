/** Chat with 64-token replies at concurrency 64: requests per second, OpenAI and Ollama protocols. */
import { OLLAMA_CONTENDERS, OPENAI_CONTENDERS, type Contender } from '../contenders/index.ts';
import type { Plan } from '../plan.ts';
import { CHAT_64 } from '../workload.ts';
import { ratioBetween, runComparison, type BenchEnv } from './compare.ts';
import { closedLoop } from './load.ts';
import { bar, type ScenarioResult } from './result.ts';

const CONCURRENCY = 64;

function throughput(id: string, title: string, contenders: Contender[], env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  return runComparison(
    {
      id,
      title,
      unit: 'req/s',
      higherIsBetter: true,
      contenders,
      rounds: plan.rounds,
      warmup: async (client) =>
        void (await closedLoop(async () => (await client.chat(CHAT_64), 1), { concurrency: CONCURRENCY, maxOps: plan.warmupOps })),
      async measure(client, latencies) {
        const round = await closedLoop(async () => (await client.chat(CHAT_64)).length, { concurrency: CONCURRENCY, durationMs: plan.roundMs, latencies });
        if (round.failures) throw new Error(`${id}: ${round.failures} failures: ${round.firstError}`);
        return { value: (round.ops / round.elapsedMs) * 1000 };
      },
    },
    env,
  );
}

export async function chatThroughput(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  const result = await throughput('chat-c64', 'chat c=64 (openai) 64 tok', OPENAI_CONTENDERS, env, plan);
  for (const c of result.contenders.filter((c) => c.name.startsWith('parley'))) {
    result.bars.push(bar(c.name, '× undici', c.ratioVsFloor!.median, '>=', 0.9, '×'));
    result.bars.push(bar(c.name, '× openai SDK', ratioBetween(result, c.name, 'openai SDK'), '>=', 5, '×'));
  }
  return result;
}

export async function ollamaThroughput(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  const result = await throughput('ollama-c64', 'chat c=64 (ollama) 64 tok', OLLAMA_CONTENDERS, env, plan);
  for (const c of result.contenders.filter((c) => c.name.startsWith('parley'))) {
    result.bars.push(bar(c.name, '× undici ollama', c.ratioVsFloor!.median, '>=', undefined, '×'));
    result.bars.push(bar(c.name, '× ollama-js', ratioBetween(result, c.name, 'ollama-js'), '>=', undefined, '×'));
  }
  return result;
}
