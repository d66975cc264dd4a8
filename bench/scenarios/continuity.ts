/**
 * One long conversation, turn after turn: no turn may fail, and each turn's
 * cost is compared with a plain undici request carrying the same messages,
 * measured right beside it (order alternating). The history is reset every
 * RESET_EVERY turns so the request size stays bounded and comparable.
 */
import { Agent, request } from 'undici';
import type { Conversation } from '../../src/index.ts';
import { parley } from '../parley-module.ts';
import { parleyOptions, PROVIDER } from '../contenders/parley.ts';
import type { Plan } from '../plan.ts';
import { Progress } from '../progress.ts';
import { percentile, Reservoir, spread } from '../stats.ts';
import { MODEL } from '../workload.ts';
import type { BenchEnv } from './compare.ts';
import { bar, type ScenarioResult } from './result.ts';

const RESET_EVERY = 100;

export async function continuity(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  const started = performance.now();
  const progress = new Progress('continuity (parley w1)', plan.continuityTurns);
  const runtime = await parley().createRuntime(parleyOptions(env.url, 'openai'));
  const agent = new Agent({ connections: 8, keepAliveTimeout: 4_000 });
  const target = `${env.url}/v1/chat/completions`;
  const turnMs = new Reservoir(50_000);
  const plainMs = new Reservoir(50_000);
  const overheadMs: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let conversation: Conversation | undefined;

  const plain = async (messages: { role: string; content: string }[]) => {
    const t0 = performance.now();
    const res = await request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages }),
      dispatcher: agent,
    });
    JSON.parse(await res.body.text());
    return performance.now() - t0;
  };

  try {
    for (let turn = 0; turn < plan.continuityTurns; turn++) {
      if (turn % RESET_EVERY === 0) conversation = await runtime.conversation({ provider: PROVIDER, model: MODEL });
      const text = `question number ${turn}: what comes next?`;
      const same = [...conversation!.messages.map((m) => ({ role: m.role, content: m.content as string })), { role: 'user', content: text }];
      const parleyTurn = async () => {
        const t0 = performance.now();
        try {
          await conversation!.send(text);
          return performance.now() - t0;
        } catch (err) {
          failures++;
          firstError ??= (err as Error).message;
          return Number.NaN;
        }
      };
      let tp: number;
      let tu: number;
      if (turn % 2 === 0) {
        tp = await parleyTurn();
        tu = await plain(same);
      } else {
        tu = await plain(same);
        tp = await parleyTurn();
      }
      plainMs.add(tu);
      if (Number.isFinite(tp)) {
        turnMs.add(tp);
        overheadMs.push(tp - tu);
      }
      if ((turn & 15) === 0) progress.update(turn, `${failures} failures`);
    }
  } finally {
    await agent.close();
    await runtime.shutdown();
  }
  progress.finish(`${((performance.now() - started) / 1000).toFixed(1)}s`);

  const p50 = percentile(overheadMs, 50) * 1000;
  const p99 = percentile(overheadMs, 99) * 1000;
  return {
    id: 'continuity',
    title: `continuity ${plan.continuityTurns} turns`,
    unit: 'µs',
    higherIsBetter: false,
    floor: 'undici same body',
    contenders: [
      { name: 'undici same body', unit: 'ms', rounds: [], median: percentile(plainMs.values, 50), latencyMs: spread(plainMs.values) },
      {
        name: 'parley w1',
        unit: 'ms',
        rounds: [],
        median: percentile(turnMs.values, 50),
        latencyMs: spread(turnMs.values),
        metrics: { overheadP50Us: p50, overheadP99Us: p99, failures },
      },
    ],
    bars: [bar('parley w1', 'failed turns', failures, '==', 0, ''), bar('parley w1', 'p99 turn overhead', p99, '<=', undefined, 'µs')],
    skipped: [],
    notes: [`history reset every ${RESET_EVERY} turns`, ...(firstError ? [`first failure: ${firstError}`] : [])],
    durationMs: Math.round(performance.now() - started),
  };
}
