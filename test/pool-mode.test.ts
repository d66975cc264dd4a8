/**
 * Pool mode (workers > 1): the same API on a piscina pool. Calls spread over
 * the threads, the queue is bounded and abortable, a cancel stops one call
 * without touching the thread's other calls, a dead or wedged thread fails
 * only its own calls and is replaced, and shutdown closes every thread.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, ParleyError, type Runtime, type RuntimeOptions, type RuntimeStats } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, withWorkerHooks } from './helpers/worker-hooks.ts';

const ask = (content: string, maxTokens = 8) => ({ model: 'parley-echo', messages: [{ role: 'user' as const, content }], maxTokens });

function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof ParleyError ? err.code : `not a ParleyError: ${String(err)}`),
  );
}

async function consume(rt: Runtime, content: string, signal?: AbortSignal): Promise<string> {
  return outcome(
    (async () => {
      for await (const _ of rt.stream(ask(content, 200), signal ? { signal } : {})) {
        // every event
      }
    })(),
  );
}

/** stats() once every thread answers (a thread still loading misses the stats deadline). */
async function statsOfAll(rt: Runtime, threads: number): Promise<RuntimeStats> {
  let stats: RuntimeStats | undefined;
  await waitFor(
    async () => {
      stats = await rt.stats();
      return stats.workers.length === threads;
    },
    { what: `${threads} threads answering`, timeoutMs: 20_000 },
  );
  return stats!;
}

describe('pool mode', () => {
  let server: ModelServer;
  const runtimes: Runtime[] = [];
  const pool = async (extra: Partial<RuntimeOptions> = {}) => {
    const rt = await createRuntime({
      providers: { local: { kind: 'ollama', baseUrl: server.url } },
      workers: 2,
      heartbeatIntervalMs: 150,
      heartbeatTimeoutMs: 1_500,
      restart: { backoffBaseMs: 10 },
      ...withWorkerHooks,
      ...extra,
    });
    runtimes.push(rt);
    return rt;
  };
  before(async () => {
    server = await startModelServer();
  });
  after(async () => {
    for (const rt of runtimes) await rt.shutdown({ graceMs: 200 });
    await server.close();
  });

  test('calls spread over both workers; stats() shows each worker', async () => {
    const rt = await pool();
    server.setOptions({ tokenDelayMs: 5 });
    try {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => rt.chat(ask(`spread ${i}`))));
      results.forEach((r, i) => assert.match(r.content, new RegExp(`spread ${i}\\b`), `call ${i} got its own answer`));
      const stats = await statsOfAll(rt, 2);
      const served = stats.workers.map((w) => w.providers[0]!.requests);
      assert.ok(served.every((n) => n > 0), `both workers served calls: ${served.join(', ')}`);
      assert.equal(served.reduce((a, b) => a + b, 0), 40);
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });

  test('the queue is bounded (QUEUE_FULL); aborting a queued call removes it and later calls still run', async () => {
    const rt = await pool({ concurrencyPerWorker: 1, maxQueue: 2 });
    await rt.chat(ask('warm'));
    server.setOptions({ tokenDelayMs: 20 });
    try {
      const running = [rt.chat(ask('run 1', 10)), rt.chat(ask('run 2', 10))].map(outcome);
      const abort = new AbortController();
      const queuedAborted = outcome(rt.chat(ask('queued, then aborted'), { signal: abort.signal }));
      const queuedKept = outcome(rt.chat(ask('queued, kept')));
      assert.equal(await outcome(rt.chat(ask('one too many'))), 'QUEUE_FULL');
      abort.abort();
      assert.equal(await queuedAborted, 'ABORTED');
      // Its place in the queue is free again.
      const later = outcome(rt.chat(ask('later')));
      assert.deepEqual(await Promise.all([...running, queuedKept, later]), ['ok', 'ok', 'ok', 'ok']);
      assert.equal((await rt.stats()).restarts, 0);
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });

  test('cancel is cooperative: aborting one stream never disturbs the calls beside it, nor the thread', async () => {
    const rt = await pool();
    server.setOptions({ tokenDelayMs: 5 });
    try {
      const abort = new AbortController();
      const others = Array.from({ length: 6 }, (_, i) => consume(rt, `beside ${i}`));
      const victim = consume(rt, 'victim', abort.signal);
      await waitFor(() => server.stats().connectionsOpen >= 7, { what: 'all streams connected' });
      abort.abort();
      assert.equal(await victim, 'ABORTED');
      assert.deepEqual(new Set(await Promise.all(others)), new Set(['ok']));
      const stats = await rt.stats();
      assert.equal(stats.restarts, 0);
      assert.equal(stats.workers.length, 2);
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });

  for (const fault of ['crash', 'wedge'] as const) {
    test(`a ${fault} of one thread fails only its calls; the pool replaces it and keeps serving`, async () => {
      const rt = await pool();
      await rt.chat(ask('warm'));
      const [victim, survivor] = (await statsOfAll(rt, 2)).workers.map((w) => w.workerId);
      assert.ok(victim !== undefined && survivor !== undefined);
      server.setOptions({ tokenDelayMs: 10 });
      try {
        const streams = Array.from({ length: 20 }, (_, i) => consume(rt, `load ${i}`));
        await waitFor(() => server.stats().connectionsOpen >= 20, { what: 'streams connected' });
        const perWorker = (await rt.stats()).workers.map((w) => w.inFlight);
        const crashed = once(rt, 'worker-crashed');
        injectWorkerFault(fault, { threadId: victim });
        await crashed;
        const results = await Promise.all(streams);
        const crashedCount = results.filter((r) => r === 'WORKER_CRASHED').length;
        assert.equal(results.filter((r) => r !== 'ok' && r !== 'WORKER_CRASHED').length, 0, results.join(','));
        assert.ok(crashedCount > 0, `the victim had calls: ${results.join(',')} (in flight per worker: ${perWorker.join(', ')})`);
        assert.ok(results.includes('ok'), `the survivor's calls completed (in flight per worker: ${perWorker.join(', ')})`);
        await waitFor(async () => (await rt.stats()).workers.length === 2, { what: 'replacement thread up', timeoutMs: 20_000 });
        assert.equal((await rt.chat(ask('after'))).provider, 'local');
        assert.equal((await rt.stats()).restarts, 1);
      } finally {
        server.setOptions({ tokenDelayMs: 0 });
      }
    });
  }

  test('shutdown sends the graceful close to every thread: one report, no forced exit, no socket left', async () => {
    // A server of its own: the other tests' runtimes still hold keep-alive sockets on the shared one.
    const own = await startModelServer();
    const rt = await createRuntime({ providers: { local: { kind: 'ollama', baseUrl: own.url } }, workers: 3 });
    await Promise.all(Array.from({ length: 12 }, (_, i) => rt.chat(ask(`before shutdown ${i}`))));
    const report = await rt.shutdown({ graceMs: 1_000 });
    assert.equal(report.forced, false);
    assert.equal(report.aborted, 0);
    await assert.rejects(rt.chat(ask('too late')), { code: 'SHUTDOWN' });
    await waitFor(() => own.stats().connectionsOpen === 0, { what: 'every socket closed' });
    await own.close();
  });
});
