import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { createRuntime } from '../src/index.ts';
import { FAULT_HEADER } from '../src/testing/index.ts';
import { PROTOCOLS, TEST_RUNTIME_DEFAULTS, ask, collect, rejectsWith, textOf, warm, withStack } from './helpers/fixtures.ts';
import { settlesWithin, waitFor } from './helpers/wait-for.ts';
import { testWorkers, inFlightOf } from './helpers/workers-mode.ts';

/** A guard against a hang, far below the 60 s call timeout of the health test. */
const HANG_GUARD_MS = 30_000;

const stallHeader = (fault: object) => ({ [FAULT_HEADER]: JSON.stringify(fault) });

describe('runtime deadlines', () => {
  test('TIMEOUT while the headers are slow, and the socket is released', async () => {
    // A deadline long enough for the request to reach the server on a loaded machine, far shorter than the held headers.
    await withStack({ fault: { kind: 'slow-headers', delayMs: 60_000 } }, () => ({ timeoutMs: 1_500 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const before = server.stats().connectionsOpen;
      const served = server.stats().requestsServed;
      // The headers would come after 60 s: TIMEOUT, not a hang, says the deadline held.
      await rejectsWith(rt.chat(ask('a')), 'TIMEOUT');
      assert.equal(server.stats().requestsServed, served + 1, 'the request had reached the server');
      await waitFor(() => server.stats().connectionsOpen === before, { what: 'connectionsOpen back to its previous value' });
      const stats = await rt.stats();
      assert.equal(stats.inFlight, 0);
      assert.equal(inFlightOf(stats), 0);
    });
  });

  test('TIMEOUT on a stream that stalls while sending SSE comments, with the tokens before it delivered', async () => {
    await withStack({ fault: { kind: 'stall', afterTokens: 3, commentEveryMs: 50 } }, () => ({ timeoutMs: 600 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const { value } = await settlesWithin(collect(rt.stream(ask('a', { provider: 'openai' }))), HANG_GUARD_MS);
      const { events, error } = value!;
      await rejectsWith(Promise.reject(error), 'TIMEOUT');
      assert.ok(events.some((e) => e.type === 'text'), 'tokens before the stall arrived');
      assert.ok(!events.some((e) => e.type === 'done'));
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'stalled socket closed' });
    });
  });

  test('TIMEOUT on a chat whose body never ends', async () => {
    await withStack({ fault: { kind: 'stall' } }, () => ({ timeoutMs: 300 }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        const { error } = await settlesWithin(rt.chat(ask('a', { provider })), HANG_GUARD_MS);
        await rejectsWith(Promise.reject(error), 'TIMEOUT');
      }
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'sockets closed' });
    });
  });

  test('a per-call timeoutMs overrides the runtime timeoutMs, both ways', async () => {
    await withStack({}, () => ({ timeoutMs: 30_000 }), async ({ server, rt }) => {
      await warm({ server, rt });
      server.injectFault({ kind: 'slow-headers', delayMs: 8_000 });
      await rejectsWith(rt.chat(ask('a'), { timeoutMs: 250 }), 'TIMEOUT');
    });
    await withStack({}, () => ({ timeoutMs: 200 }), async ({ server, rt }) => {
      await warm({ server, rt });
      server.injectFault({ kind: 'slow-headers', delayMs: 600 });
      const result = await rt.chat(ask('a'), { timeoutMs: 10_000 });
      assert.ok(result.content.length > 0);
      server.injectFault({ kind: 'slow-headers', delayMs: 600 });
      await rejectsWith(rt.chat(ask('a')), 'TIMEOUT');
    });
  });

  test('the timeout of one call does not disturb another running at the same time', async () => {
    await withStack(
      { tokenDelayMs: 5 },
      (server) => ({
        providers: {
          good: { kind: 'openai', baseUrl: `${server.url}/v1` },
          stalled: { kind: 'ollama', baseUrl: server.url, headers: stallHeader({ kind: 'stall', afterTokens: 1 }) },
        },
      }),
      async ({ server, rt }) => {
        await warm({ server, rt });
        const slowOne = rejectsWith(rt.chat(ask('a', { provider: 'stalled' }), { timeoutMs: 300 }), 'TIMEOUT');
        const stalledStream = collect(rt.stream(ask('b', { provider: 'stalled' }), { timeoutMs: 400 }));
        const good = collect(rt.stream(ask('long reply please', { provider: 'good', maxTokens: 150 })));
        const goodChat = rt.chat(ask('and a chat', { provider: 'good', maxTokens: 100 }));
        await slowOne;
        const stalled = await stalledStream;
        await rejectsWith(Promise.reject(stalled.error), 'TIMEOUT');
        const { events, error } = await good;
        assert.equal(error, undefined);
        const last = events.at(-1);
        assert.ok(last && last.type === 'done');
        assert.equal(textOf(events), last.result.content);
        assert.ok((await goodChat).content.length > 0);
        const stats = await rt.stats();
        assert.equal(stats.inFlight, 0);
        assert.equal(stats.failed, 2);
      },
    );
  });

  test('health() of a provider that never answers reports ok:false at the probe deadline, not the call timeout', async () => {
    const sockets = new Set<Socket>();
    // Reads the request and never answers.
    const blackhole = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const { port } = blackhole.address() as { port: number };
    const rt = await createRuntime({ workers: testWorkers,
      providers: { silent: { kind: 'ollama', baseUrl: `http://127.0.0.1:${port}` } },
      ...TEST_RUNTIME_DEFAULTS,
      timeoutMs: 60_000,
    });
    try {
      // Well below the 60 s call timeout: a probe that waited for it would miss this guard.
      const { value: report } = await settlesWithin(rt.health('silent'), HANG_GUARD_MS, 'health()');
      assert.equal(report?.ok, false);
      assert.equal(report?.error?.code, 'TIMEOUT');
      await waitFor(() => sockets.size === 0, { what: 'probe socket closed' });
    } finally {
      await rt.shutdown();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => blackhole.close(() => resolve()));
    }
  });
});
