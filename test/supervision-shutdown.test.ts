/**
 * Shutdown after faults: after a crash, during a restart and during a wedge,
 * shutdown() completes without waiting for what it must not wait for (a
 * restart backoff, a wedged worker), settles every call, and reports
 * honestly whether the worker had to be terminated.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, type ParleyError } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { settlesWithin, waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, withWorkerHooks } from './helpers/worker-hooks.ts';

const ask = { model: 'parley-echo', messages: [{ role: 'user' as const, content: 'hello' }], maxTokens: 4 };
const GRACE_MS = 500;
/** A guard against a hang: shutdown must never wait for a restart backoff or a wedged worker (both far longer). */
const HANG_GUARD_MS = 30_000;

describe('shutdown after faults', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer();
  });
  after(() => server.close());

  test('after a crash and restart: graceful, the new worker exits by itself', async () => {
    const rt = await createRuntime({ providers: { local: { kind: 'ollama', baseUrl: server.url } }, ...withWorkerHooks });
    await rt.chat(ask);
    const restarted = once(rt, 'worker-restarted');
    injectWorkerFault('crash');
    await restarted;
    await rt.chat(ask);
    const report = await rt.shutdown({ graceMs: GRACE_MS });
    assert.equal(report.forced, false);
    assert.equal(rt.state, 'closed');
    await waitFor(() => server.stats().connectionsOpen === 0, { what: 'sockets closed' });
  });

  test('during a restart backoff: completes at once and the pending restart never happens', async () => {
    const rt = await createRuntime({
      providers: { local: { kind: 'ollama', baseUrl: server.url } },
      // A backoff shutdown would never live to see: it must not wait for it.
      restart: { backoffBaseMs: 10 * HANG_GUARD_MS },
      ...withWorkerHooks,
    });
    let restarts = 0;
    rt.on('worker-restarted', () => restarts++);
    await rt.chat(ask);
    const crashed = once(rt, 'worker-crashed');
    injectWorkerFault('crash');
    await crashed;
    assert.equal(rt.state, 'restarting');
    const waiting = rt.chat(ask).catch((err: ParleyError) => err.code);
    const { value: report } = await settlesWithin(rt.shutdown({ graceMs: GRACE_MS }), HANG_GUARD_MS, 'shutdown');
    assert.ok(report);
    assert.equal(report.forced, false);
    assert.equal(await waiting, 'SHUTDOWN');
    assert.equal(restarts, 0);
  });

  test('during a wedge: in-flight calls fail with SHUTDOWN, the worker is terminated and the report says so', async () => {
    const rt = await createRuntime({
      providers: { local: { kind: 'ollama', baseUrl: server.url } },
      // Longer than the grace, after which the heartbeat no longer judges:
      // shutdown must cope alone. The close then waits this long for an
      // answer a wedged worker never gives (it waited 10 s, the most, with
      // 60 s here, while the wedge spun a core).
      heartbeatTimeoutMs: 2_000,
      ...withWorkerHooks,
    });
    await rt.chat(ask);
    server.setOptions({ tokenDelayMs: 50 });
    try {
      const inFlight = rt.chat({ ...ask, maxTokens: 100 }).catch((err: ParleyError) => err.code);
      await waitFor(() => server.stats().connectionsOpen > 0, { what: 'call in flight' });
      injectWorkerFault('wedge');
      const { value: report } = await settlesWithin(rt.shutdown({ graceMs: GRACE_MS }), HANG_GUARD_MS, 'shutdown');
      assert.ok(report);
      assert.equal(report.forced, true);
      assert.equal(report.aborted, 1);
      assert.equal(await inFlight, 'SHUTDOWN');
      assert.equal(rt.state, 'closed');
      assert.strictEqual(await rt.shutdown(), report, 'idempotent: the same report');
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });
});
