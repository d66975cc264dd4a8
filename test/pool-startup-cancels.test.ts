/**
 * Cancels sent while a worker thread is still starting must not be lost:
 * calls made right after createRuntime() (and right after a crash, while
 * the replacement starts) that time out or are aborted on the host leave no
 * call, running request or socket in any thread. The abort cases use a 60 s
 * deadline, so the worker's own deadline sweep cannot be what ends them.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime, type RuntimeStats } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { ask, providersFor, rejectsWith } from './helpers/fixtures.ts';
import { injectWorkerFault, withWorkerHooks } from './helpers/worker-hooks.ts';

const CALLS = 10;
/** Well under the abort cases' 60 s deadline. */
const RELEASE_LIMIT_MS = 15_000;
/**
 * A connection a cancelled call opened, whose request never went out, stays
 * in the Agent's pool, reusable, until its keep-alive timeout (4 s by
 * default): every test here waited those 4 s. A short one makes the wait
 * for "every connection closed" about what was released, not about a timer.
 */
const KEEP_ALIVE = { keepAliveTimeoutMs: 250 } as const;

/** Every thread answered stats, and none has a call or a running or pending request. */
function allIdle(stats: RuntimeStats, workers: number): boolean {
  if (stats.inFlight !== 0 || stats.workers.length !== workers) return false;
  return stats.workers.every((w) => w.inFlight === 0 && w.providers.every((p) => p.running === 0 && p.pending === 0));
}

async function assertReleased(rt: Runtime, server: ModelServer, workers: number, what: string): Promise<void> {
  await waitFor(async () => allIdle(await rt.stats(), workers), { what: `${what}: no call or request left in any thread`, timeoutMs: RELEASE_LIMIT_MS });
  // Idle keep-alive sockets close at the Agent's keep-alive timeout (KEEP_ALIVE).
  await waitFor(() => server.stats().connectionsOpen === 0, { what: `${what}: the server saw every connection closed`, timeoutMs: RELEASE_LIMIT_MS });
}

/** Ten chats at once, each timing out (`kind: 'deadline'`) or aborted (`'abort'`) 30 to 100 ms after it was made. */
function tenChats(rt: Runtime, kind: 'deadline' | 'abort'): Promise<ParleyError>[] {
  return Array.from({ length: CALLS }, (_, i) => {
    const ms = 30 + Math.round((70 * i) / (CALLS - 1));
    if (kind === 'deadline') return rejectsWith(rt.chat(ask(`deadline ${i}`), { timeoutMs: ms }), 'TIMEOUT');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), ms);
    return rejectsWith(rt.chat(ask(`abort ${i}`), { timeoutMs: 60_000, signal: controller.signal }), 'ABORTED');
  });
}

for (const workers of [1, 2]) {
  describe(`cancels sent while threads start (workers: ${workers})`, () => {
    for (const kind of ['deadline', 'abort'] as const) {
      test(`ten chats ending by ${kind} right after createRuntime() leave nothing in any thread`, async () => {
        const server = await startModelServer({ fault: { kind: 'slow-headers', delayMs: 60_000 } });
        const rt = await createRuntime({ workers, providers: providersFor(server), heartbeatTimeoutMs: 10_000, timeoutMs: 60_000, ...KEEP_ALIVE });
        try {
          await Promise.all(tenChats(rt, kind));
          await assertReleased(rt, server, workers, kind);
        } finally {
          await rt.shutdown({ graceMs: 500 });
          await server.close();
        }
      });
    }

    test('ten chats aborted while crashed threads are replaced leave nothing in the replacements', async () => {
      const server = await startModelServer({ fault: { kind: 'slow-headers', delayMs: 60_000 } });
      const rt = await createRuntime({
        workers,
        providers: providersFor(server),
        heartbeatTimeoutMs: 10_000,
        timeoutMs: 60_000,
        ...KEEP_ALIVE,
        restart: { backoffBaseMs: 0 },
        ...withWorkerHooks,
      });
      try {
        await waitFor(async () => (await rt.stats()).workers.length === workers, { what: 'every thread up', timeoutMs: 30_000 });
        let crashes = 0;
        rt.on('worker-crashed', () => crashes++);
        injectWorkerFault('crash');
        await waitFor(() => crashes === workers, { what: 'every thread crashed' });
        const outcomes = await Promise.allSettled(tenChats(rt, 'abort'));
        assert.deepEqual(
          outcomes.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason)),
          [],
        );
        await assertReleased(rt, server, workers, 'after the crash');
      } finally {
        await rt.shutdown({ graceMs: 500 });
        await server.close();
      }
    });
  });
}
