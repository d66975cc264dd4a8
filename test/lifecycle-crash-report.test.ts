/**
 * One lifecycle core serves both modes, so a worker's death is reported the
 * same way by the dedicated actor (workers: 1) and by the pool (workers: 2):
 * 'worker-crashed' names the dead worker and counts the calls that ran on it,
 * exactly those calls fail with WORKER_CRASHED, the others finish, and the
 * replacement is announced as 'worker-restarted' then 'worker-started'.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, ParleyError, type Runtime, type RuntimeEvents } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, withWorkerHooks, type WorkerFault } from './helpers/worker-hooks.ts';

const STREAMS = 12;

async function consume(rt: Runtime, content: string): Promise<string> {
  try {
    for await (const _ of rt.stream({ model: 'parley-echo', messages: [{ role: 'user', content }], maxTokens: 400 })) {
      // every event
    }
    return 'ok';
  } catch (err) {
    return err instanceof ParleyError ? err.code : `not a ParleyError: ${String(err)}`;
  }
}

describe('crash report, the same in both modes', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer({ tokenDelayMs: 20 });
  });
  after(async () => {
    await server.close();
  });

  for (const workers of [1, 2]) {
    for (const fault of ['crash', 'wedge'] as WorkerFault[]) {
      test(`workers: ${workers}, ${fault}: failedCalls counts exactly the calls that failed with WORKER_CRASHED`, async () => {
        const rt = await createRuntime({
          providers: { local: { kind: 'ollama', baseUrl: server.url } },
          workers,
          heartbeatIntervalMs: 100,
          heartbeatTimeoutMs: 1_000,
          ...withWorkerHooks,
        });
        const seen: string[] = [];
        const log =
          (name: keyof RuntimeEvents) =>
          ({ workerId }: { workerId?: number }) =>
            seen.push(`${name} ${workerId}`);
        rt.on('worker-crashed', log('worker-crashed'));
        rt.on('worker-restarted', log('worker-restarted'));
        rt.on('worker-started', log('worker-started'));
        try {
          await waitFor(async () => (await rt.stats()).workers.length === workers, { what: 'every worker answers', timeoutMs: 20_000 });
          const baseline = server.stats().connectionsOpen;
          const streams = Array.from({ length: STREAMS }, (_, i) => consume(rt, `load ${i}`));
          await waitFor(() => server.stats().connectionsOpen >= baseline + STREAMS, { what: 'streams connected', timeoutMs: 10_000 });
          const busy = (await rt.stats()).workers.find((w) => w.inFlight > 0);
          assert.ok(busy, 'a worker has calls in flight');
          const crashed = once(rt, 'worker-crashed');
          seen.length = 0;
          injectWorkerFault(fault, workers > 1 ? { threadId: busy.workerId } : {});
          const [event] = (await crashed) as RuntimeEvents['worker-crashed'];
          const results = await Promise.all(streams);
          const failed = results.filter((r) => r === 'WORKER_CRASHED').length;
          assert.equal(results.filter((r) => r !== 'ok' && r !== 'WORKER_CRASHED').length, 0, results.join(','));
          assert.equal(event.workerId, busy.workerId);
          assert.ok(failed > 0, 'the dead worker had calls');
          assert.equal(event.failedCalls, failed);
          if (workers === 1) assert.equal(failed, STREAMS);
          else assert.ok(results.includes('ok'), `the other thread's calls finished: ${results.join(',')}`);
          await waitFor(() => seen.some((s) => s.startsWith('worker-started')), { what: 'the replacement is up', timeoutMs: 20_000 });
          const replacement = seen.find((s) => s.startsWith('worker-restarted'))?.split(' ')[1];
          assert.ok(replacement !== undefined && Number(replacement) !== busy.workerId, seen.join(', '));
          assert.deepEqual(seen, [`worker-crashed ${busy.workerId}`, `worker-restarted ${replacement}`, `worker-started ${replacement}`]);
          assert.equal((await rt.stats()).restarts, 1);
        } finally {
          await rt.shutdown({ graceMs: 500 });
        }
      });
    }
  }
});
