/**
 * The load real hosts see, seen from a host thread that renders: 64 streams
 * of 200 tokens at a human rate (20 ms per token, from a model server in a
 * process of its own), while the host thread runs 16 ms frames of 10 ms of
 * work (frame-loop.ts). Per contender and round: the frames' start jitter
 * p99, the host thread's wake-ups per second, and its CPU per streamed
 * token: what its CPU per second outside the frames' work exceeds the idle
 * host's in the same round by, per token delivered. The idle baseline runs
 * the same frames with no streams, for as long as a round of streams lasts.
 */
import { parley } from '../contenders/parley.ts';
import { openaiSdk } from '../contenders/openai-sdk.ts';
import { undiciRaw } from '../contenders/undici-raw.ts';
import type { Client, Contender } from '../contenders/index.ts';
import { FRAME_MS, FrameLoop, WORK_MS, type FrameReport } from '../frame-loop.ts';
import type { Plan } from '../plan.ts';
import { startServerProcess } from '../server-process.ts';
import { median, pairedRatio } from '../stats.ts';
import { longReply } from '../workload.ts';
import { find, runComparison, type BenchEnv } from './compare.ts';
import { bar, type ContenderResult, type ScenarioResult } from './result.ts';

export const HOST_STREAMS = 64;
export const TOKEN_DELAY_MS = 20;
/** The goal: parley's frame jitter p99 at most this much above the idle host's. */
const OVER_IDLE_BAR_MS = 0.5;

const IDLE_NAME = 'idle host (no streams)';
const IDLE_CLIENT: Client = {
  chat: async () => '',
  stream: async () => 0,
  close: async () => undefined,
};
const idle: Contender = { name: IDLE_NAME, protocol: 'openai', open: async () => IDLE_CLIENT };
const DEFAULTS = 'parley w1';

export function realisticHostContenders(nice: number[]): Contender[] {
  return [
    undiciRaw('openai', 'undici (floor)'),
    idle,
    parley('openai', 1),
    ...nice.map((n) => parley('openai', 1, { label: `nice ${n}`, options: { workerNice: n } })),
    openaiSdk(),
  ];
}

let sink = 0;
const consume = (text: string) => {
  sink += text.length;
};

export async function realisticHost(env: BenchEnv, plan: Plan): Promise<ScenarioResult[]> {
  const server = await startServerProcess(['--token-delay-ms', String(TOKEN_DELAY_MS)]);
  const tokens = plan.hostStreamTokens;
  const workload = longReply(tokens);
  const warm = longReply(8);
  let jitter: ScenarioResult;
  try {
    jitter = await runComparison(
      {
        id: 'host-jitter',
        title: `realistic host: frame jitter p99`,
        unit: 'ms',
        higherIsBetter: false,
        contenders: realisticHostContenders(plan.hostNice),
        rounds: plan.hostRounds,
        warmup: async (client) => void (await Promise.all(Array.from({ length: HOST_STREAMS }, () => client.stream(warm, consume)))),
        async measure(client, latencies) {
          const loop = new FrameLoop().start();
          let streamed = 0;
          let f: FrameReport;
          try {
            if (client === IDLE_CLIENT) await new Promise((resolve) => setTimeout(resolve, tokens * TOKEN_DELAY_MS + 100));
            else {
              const counts = await Promise.all(
                Array.from({ length: HOST_STREAMS }, async () => {
                  const t0 = performance.now();
                  const n = await client.stream(workload, consume);
                  latencies.add(performance.now() - t0);
                  return n;
                }),
              );
              for (const n of counts) if (n !== tokens) throw new Error(`realistic host: a stream gave ${n} tokens, expected ${tokens}`);
              streamed = HOST_STREAMS * tokens;
            }
          } finally {
            // A failed round must not leave the frames running (they would keep the process alive).
            f = loop.stop();
          }
          return {
            value: f.jitterP99Ms,
            metrics: {
              wakeupsPerSec: f.wakeupsPerSec,
              preemptionsPerSec: f.preemptionsPerSec,
              hostCpuMsPerSec: f.outsideWorkCpuNs / 1e6 / (f.elapsedMs / 1000),
              tokensPerSec: streamed ? streamed / (f.elapsedMs / 1000) : Number.NaN,
              frames: f.frames,
            },
          };
        },
      },
      { ...env, url: server.url, port: server.port },
    );
  } finally {
    await server.stop();
  }
  hostCpuPerToken(jitter);
  const idleP99 = find(jitter, IDLE_NAME)?.median ?? Number.NaN;
  const floorP99 = find(jitter, jitter.floor!)?.median ?? Number.NaN;
  for (const c of jitter.contenders.filter((c) => c.name.startsWith('parley'))) {
    const goal = c.name === DEFAULTS;
    // Observed and goal both as p99 (not as the difference), so the chart can draw the goal on its ms axis.
    jitter.bars.push(bar(c.name, `p99 (goal: idle host + ${OVER_IDLE_BAR_MS} ms)`, c.median, '<=', goal ? idleP99 + OVER_IDLE_BAR_MS : undefined, 'ms'));
    jitter.bars.push(bar(c.name, 'p99 below undici', c.median, '<', goal ? floorP99 : undefined, 'ms'));
  }
  jitter.notes.push(
    `${HOST_STREAMS} streams of ${tokens} tokens, ${TOKEN_DELAY_MS} ms per token (server in its own process); host: ${FRAME_MS} ms frames with ${WORK_MS} ms of work; median of ${plan.hostRounds} rounds`,
  );
  return [jitter, perRound(jitter, 'host-wakeups', 'realistic host: host-thread wake-ups', 'wakeupsPerSec', '/s'), perRound(jitter, 'host-cpu-per-token', 'realistic host: host CPU per streamed token', 'hostCpuUsPerToken', 'µs')];
}

/**
 * Host CPU per streamed token, round by round: the host thread's CPU per
 * second outside the frames' work, less the idle host's in the same round,
 * per token delivered per second. The frames' work is counted at its
 * calibrated CPU time (frame-loop.ts), which can be off by a few percent
 * either way; the idle host's frames carry the same error, so it cancels
 * here (taken alone, it once made a contender's figure negative).
 */
function hostCpuPerToken(jitter: ScenarioResult): void {
  const idleMsPerSec = find(jitter, IDLE_NAME)?.metricRounds?.hostCpuMsPerSec ?? [];
  for (const c of jitter.contenders) {
    const rounds = c.metricRounds;
    if (!rounds?.tokensPerSec || !rounds.hostCpuMsPerSec) continue;
    const perToken = rounds.hostCpuMsPerSec.map((ms, i) => ((ms - (idleMsPerSec[i] ?? Number.NaN)) * 1000) / rounds.tokensPerSec![i]!);
    rounds.hostCpuUsPerToken = perToken;
    c.metrics = { ...c.metrics, hostCpuUsPerToken: median(perToken.filter(Number.isFinite)) };
  }
}

/** One of the jitter rounds' side figures as a comparison of its own (table and chart). */
function perRound(source: ScenarioResult, id: string, title: string, key: string, unit: string): ScenarioResult {
  const values = (c: ContenderResult) => c.metricRounds?.[key] ?? [];
  const floor = values(find(source, source.floor!)!);
  const contenders: ContenderResult[] = source.contenders
    .filter((c) => values(c).some(Number.isFinite))
    .map((c) => ({ name: c.name, unit, rounds: values(c), median: median(values(c)), ratioVsFloor: pairedRatio(values(c), floor) }));
  const out: ScenarioResult = { id, title, unit, higherIsBetter: false, floor: source.floor!, contenders, bars: [], skipped: [], notes: [], durationMs: 0 };
  if (key === 'wakeupsPerSec') out.notes.push('voluntary context switches of the host thread per second (/proc/thread-self/status); the frames alone cost about 60/s');
  if (key === 'hostCpuUsPerToken') out.notes.push('host-thread CPU per second (/proc/thread-self/schedstat) outside the frames\' work, beyond the idle host\'s in the same round, per text token delivered');
  return out;
}
