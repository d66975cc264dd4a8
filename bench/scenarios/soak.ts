/**
 * Many chats and streams through one parley runtime: does memory stay flat,
 * do sockets stay under the connection limit, and are there none left after
 * shutdown. The limit is set below the concurrency so it actually binds.
 */
import type { Runtime } from '../../src/index.ts';
import { parley } from '../parley-module.ts';
import { parleyClient, parleyOptions } from '../contenders/parley.ts';
import { fullGc, gcAvailable } from '../gc.ts';
import type { Plan } from '../plan.ts';
import { Progress } from '../progress.ts';
import { startServerProcess } from '../server-process.ts';
import { openConnectionsTo } from '../sockets.ts';
import { Reservoir, spread } from '../stats.ts';
import { CHAT_64, STREAM_LONG } from '../workload.ts';
import type { BenchEnv } from './compare.ts';
import { closedLoop } from './load.ts';
import { bar, type ScenarioResult } from './result.ts';

const CONNECTION_LIMIT = 32;
const RSS_GROWTH_BAR_MB = 20;
const MB = 2 ** 20;

async function connectedPerStats(runtime: Runtime): Promise<number> {
  const stats = await runtime.stats();
  return stats.workers.reduce((n, w) => n + w.providers.reduce((m, p) => m + p.connected, 0), 0);
}

export async function soak(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  // A model server of its own: sockets are counted by the server's port, and
  // the scenarios before this one leave other clients' kept-alive sockets to
  // the shared server (the SDK's, the floor's) open for seconds. Counted with
  // them, a quick run once read 156 sockets under a limit of 32.
  const server = await startServerProcess();
  try {
    return await soakOn({ ...env, url: server.url, port: server.port }, plan);
  } finally {
    await server.stop();
  }
}

async function soakOn(env: BenchEnv, plan: Plan): Promise<ScenarioResult> {
  const started = performance.now();
  const total = plan.soakChats + plan.soakStreams;
  const progress = new Progress('soak (parley w1)', total);
  const runtime = await parley().createRuntime(parleyOptions(env.url, 'openai', { connections: CONNECTION_LIMIT }));
  const client = parleyClient(runtime);
  let sink = 0;
  const consume = (t: string) => void (sink += t.length);

  // Warm up with a tenth of the work first: V8 grows each heap's young
  // generation (up to 32 MB a thread) and undici its pools while load rises,
  // once. Growth after that is what the soak itself kept.
  await closedLoop(async () => (await client.chat(CHAT_64)).length, { concurrency: 64, maxOps: Math.max(2_000, plan.soakChats / 10) });
  await closedLoop(() => client.stream(STREAM_LONG, consume), { concurrency: 16, maxOps: Math.max(200, plan.soakStreams / 10) });
  await fullGc();
  const rssBefore = process.memoryUsage().rss;
  const workerHeapBefore = (await runtime.stats()).workers[0]?.heapUsedBytes ?? 0;

  let maxSockets = 0;
  let maxStatsConnected = 0;
  let samplerBusy = false;
  const rssSamples: number[] = [];
  const sampler = setInterval(() => {
    maxSockets = Math.max(maxSockets, openConnectionsTo(env.port) ?? 0);
    rssSamples.push(Math.round((process.memoryUsage().rss / MB) * 10) / 10);
    if (samplerBusy) return;
    samplerBusy = true;
    connectedPerStats(runtime)
      .then((n) => (maxStatsConnected = Math.max(maxStatsConnected, n)))
      .finally(() => (samplerBusy = false));
  }, 200);

  const chatLatency = new Reservoir(20_000);
  const streamLatency = new Reservoir(20_000);
  const chats = await closedLoop(async () => (await client.chat(CHAT_64)).length, {
    concurrency: 64,
    maxOps: plan.soakChats,
    latencies: chatLatency,
    onProgress: (n) => progress.update(n, 'chats'),
  });
  const streams = await closedLoop(() => client.stream(STREAM_LONG, consume), {
    concurrency: 16,
    maxOps: plan.soakStreams,
    latencies: streamLatency,
    onProgress: (n) => progress.update(plan.soakChats + n, 'streams'),
  });
  clearInterval(sampler);
  await fullGc();
  const rssAfter = process.memoryUsage().rss;
  const workerHeapAfter = (await runtime.stats()).workers[0]?.heapUsedBytes ?? 0;
  const report = await runtime.shutdown();
  const socketsAfterShutdown = openConnectionsTo(env.port) ?? Number.NaN;
  progress.finish(`${((performance.now() - started) / 1000).toFixed(1)}s`);

  const failures = chats.failures + streams.failures;
  const growthMb = (rssAfter - rssBefore) / MB;
  const result: ScenarioResult = {
    id: 'soak',
    title: `soak ${plan.soakChats} chats + ${plan.soakStreams} streams`,
    unit: 'MB',
    higherIsBetter: false,
    contenders: [
      {
        name: 'parley w1',
        unit: 'MB',
        rounds: rssSamples,
        median: growthMb,
        latencyMs: spread(chatLatency.values),
        metrics: {
          rssBeforeMb: rssBefore / MB,
          rssAfterMb: rssAfter / MB,
          workerHeapGrowthMb: (workerHeapAfter - workerHeapBefore) / MB,
          chatsPerSec: (chats.ops / chats.elapsedMs) * 1000,
          streamsPerSec: (streams.ops / streams.elapsedMs) * 1000,
          maxSocketsKernel: maxSockets,
          maxSocketsStats: maxStatsConnected,
          socketsAfterShutdown,
          failures,
          shutdownMs: report.durationMs,
          forcedShutdown: report.forced ? 1 : 0,
        },
      },
    ],
    bars: [
      bar('parley w1', 'RSS growth', growthMb, '<', RSS_GROWTH_BAR_MB, 'MB'),
      bar('parley w1', 'max open sockets', Math.max(maxSockets, maxStatsConnected), '<=', CONNECTION_LIMIT, ''),
      bar('parley w1', 'sockets after shutdown', socketsAfterShutdown, '==', 0, ''),
      bar('parley w1', 'failures', failures, '==', 0, ''),
    ],
    skipped: [],
    notes: [
      `connection limit ${CONNECTION_LIMIT} (connections option) under concurrency 64; sockets counted from /proc/net/tcp and runtime.stats()`,
      `warm-up of a tenth of the work before the first reading; ${gcAvailable ? 'RSS read after a full GC of the host isolate' : 'no GC available: RSS includes uncollected garbage'}`,
      ...(chats.firstError ? [`first chat error: ${chats.firstError}`] : []),
      ...(streams.firstError ? [`first stream error: ${streams.firstError}`] : []),
    ],
    durationMs: Math.round(performance.now() - started),
  };
  if (sink < 0) result.notes.push('unreachable');
  return result;
}
