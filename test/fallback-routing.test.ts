/**
 * Fallback routing through `provider: [a, b]`: a provider that is down, or
 * fails with a retryable status after its retries, hands the call to the next;
 * a request the provider refuses, or a stream that already showed text, does
 * not move; a provider that keeps failing is skipped for a cooldown, then
 * probed again.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { TEST_RUNTIME_DEFAULTS, ask, closedPort, collect, rejectsWith, textOf } from './helpers/fixtures.ts';

interface Routes {
  rt: Runtime;
  /** The first choice, a real server (faults injected per test). */
  first: ModelServer;
  /** The fallback. */
  up: ModelServer;
}

/** Providers: 'down' (nothing listening), 'first' and 'up' (two servers), all Ollama. */
async function withRoutes(options: Partial<RuntimeOptions>, body: (routes: Routes) => Promise<void>): Promise<void> {
  const first = await startModelServer();
  const up = await startModelServer();
  const port = await closedPort();
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({
      providers: {
        down: { kind: 'ollama', baseUrl: `http://127.0.0.1:${port}` },
        first: { kind: 'ollama', baseUrl: first.url },
        up: { kind: 'ollama', baseUrl: up.url },
      },
      ...TEST_RUNTIME_DEFAULTS,
      retryBaseMs: 1,
      ...options,
    });
    await body({ rt, first, up });
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await first.close();
    await up.close();
  }
}

const served = (server: ModelServer) => server.stats().requestsServed;

/** A plain HTTP server that answers every request with `status`, but only after `delayMs`. */
async function lateServer(delayMs: number, status: number): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  let requests = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((req, res) => {
    requests++;
    req.resume();
    const timer = setTimeout(() => {
      timers.delete(timer);
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'busy' }));
    }, delayMs);
    timers.add(timer);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function providerStats(rt: Runtime, name: string) {
  const stats = (await rt.stats()).providers.find((p) => p.provider === name);
  assert.ok(stats, `stats().providers has ${name}`);
  return stats;
}

describe('fallback routing', () => {
  test('one deadline covers the whole call: the next provider gets what is left of it, not a fresh timeoutMs', async () => {
    // 'late' answers 503 only after LATE_MS (no retries, so the call moves on);
    // 'up' holds its headers for UP_MS. What is left of the deadline for 'up'
    // is at most DEADLINE_MS - LATE_MS < UP_MS, so the call must end in
    // TIMEOUT; with a fresh DEADLINE_MS > UP_MS it would succeed. A loaded
    // machine only makes less of the deadline left, never more.
    const DEADLINE_MS = 4_000;
    const LATE_MS = 2_000;
    const UP_MS = 3_000;
    const late = await lateServer(LATE_MS, 503);
    const up = await startModelServer({ fault: { kind: 'slow-headers', delayMs: UP_MS } });
    const rt = await createRuntime({
      providers: { late: { kind: 'ollama', baseUrl: late.url }, up: { kind: 'ollama', baseUrl: up.url } },
      ...TEST_RUNTIME_DEFAULTS,
      maxRetries: 0,
    });
    try {
      // The worker's start-up must not eat into the deadline under test.
      await rt.models('up', { timeoutMs: 30_000 });
      const upBefore = served(up);
      await rejectsWith(rt.chat(ask('in time?', { provider: ['late', 'up'] }), { timeoutMs: DEADLINE_MS }), 'TIMEOUT');
      assert.equal(late.requests(), 1, 'the first provider was tried');
      assert.equal(served(up) - upBefore, 1, 'the fallback was tried, with what was left of the deadline');
    } finally {
      await rt.shutdown({ graceMs: 500 });
      await up.close();
      await late.close();
    }
  });

  test('a provider that refuses connections is skipped: chat and stream succeed on the next', async () => {
    await withRoutes({}, async ({ rt, up }) => {
      const result = await rt.chat(ask('hello fallback', { provider: ['down', 'up'] }));
      assert.equal(result.provider, 'up');
      assert.match(result.content, /hello fallback/);

      const { events, error } = await collect(rt.stream(ask('stream fallback', { provider: ['down', 'up'] })));
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      assert.equal(last.result.provider, 'up');
      assert.equal(textOf(events), last.result.content);
      assert.equal(served(up), 2);

      const down = await providerStats(rt, 'down');
      assert.equal(down.failures, 2);
      assert.equal(down.lastError?.code, 'UNREACHABLE');
    });
  });

  test('a server that stopped listening (refuse) is skipped too', async () => {
    await withRoutes({}, async ({ rt, first }) => {
      await first.refuse(true);
      const result = await rt.chat(ask('first is gone', { provider: ['first', 'up'] }));
      assert.equal(result.provider, 'up');
      await first.refuse(false);
      assert.equal((await rt.chat(ask('first is back', { provider: ['first', 'up'] }))).provider, 'first');
    });
  });

  test('a retryable HTTP 503 falls back after the first provider used its retries', async () => {
    await withRoutes({ maxRetries: 2 }, async ({ rt, first, up }) => {
      first.setFault({ kind: 'status', status: 503, message: 'maintenance' });
      const result = await rt.chat(ask('unavailable first', { provider: ['first', 'up'] }));
      assert.equal(result.provider, 'up');
      assert.equal(served(first), 3, 'one attempt and two retries on the first provider');
      assert.equal(served(up), 1);

      const { events, error } = await collect(rt.stream(ask('unavailable stream', { provider: ['first', 'up'] })));
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      assert.equal(last.result.provider, 'up');
      assert.equal(served(first), 6);
    });
  });

  test('a non-retryable HTTP 400 does not fall back: the first provider\'s error is the answer', async () => {
    await withRoutes({}, async ({ rt, first, up }) => {
      first.setFault({ kind: 'status', status: 400, message: 'bad request body' });
      const err = await rejectsWith(rt.chat(ask('bad request', { provider: ['first', 'up'] })), 'HTTP');
      assert.equal(err.status, 400);
      assert.equal(err.provider, 'first');
      assert.equal(err.retryable, false);
      assert.equal(served(first), 1);

      const { events, error } = await collect(rt.stream(ask('bad stream', { provider: ['first', 'up'] })));
      assert.equal(events.length, 0);
      assert.ok(error instanceof ParleyError);
      assert.equal(error.code, 'HTTP');
      assert.equal(error.status, 400);
      assert.equal(served(up), 0, 'the fallback never saw a request');
      // A refused request says nothing about the provider's health.
      assert.equal((await providerStats(rt, 'first')).failures, 0);
    });
  });

  test('a stream that already delivered text and then breaks is not continued by another provider', async () => {
    await withRoutes({}, async ({ rt, first, up }) => {
      first.injectFault({ kind: 'reset', afterTokens: 3 });
      const { events, error } = await collect(rt.stream(ask('break after three tokens', { provider: ['first', 'up'] })));
      assert.ok(error instanceof ParleyError, `expected a ParleyError, got ${String(error)}`);
      assert.equal(error.code, 'CONNECTION');
      assert.equal(error.provider, 'first');
      assert.equal(events.filter((e) => e.type === 'text').length, 3, 'the caller saw the first three tokens');
      assert.ok(!events.some((e) => e.type === 'done'));
      assert.equal(served(first), 1, 'not retried either: the caller already saw text');
      assert.equal(served(up), 0, 'the second provider saw no request');
    });
  });

  test('an unknown provider in the list is INVALID_REQUEST before any I/O', async () => {
    await withRoutes({}, async ({ rt, first, up }) => {
      await rejectsWith(rt.chat(ask('nobody', { provider: ['first', 'nope'] })), 'INVALID_REQUEST');
      const { error } = await collect(rt.stream(ask('nobody', { provider: ['nope', 'up'] })));
      assert.ok(error instanceof ParleyError);
      assert.equal(error.code, 'INVALID_REQUEST');
      assert.equal(served(first) + served(up), 0);
    });
  });

  test('breaker: after failureThreshold failures the provider is skipped while cooling, then probed and closed again', async () => {
    await withRoutes({ maxRetries: 0, breaker: { failureThreshold: 2, cooldownMs: 300 } }, async ({ rt, first }) => {
      first.setFault({ kind: 'status', status: 503 });
      const route = { provider: ['first', 'up'] };

      assert.equal((await rt.chat(ask('one', route))).provider, 'up');
      let stats = await providerStats(rt, 'first');
      assert.equal(stats.breaker, 'closed');
      assert.equal(stats.consecutiveFailures, 1);
      const openedAfter = Date.now();
      assert.equal((await rt.chat(ask('two', route))).provider, 'up');
      assert.equal(served(first), 2);

      // Open: skipped while cooling.
      stats = await providerStats(rt, 'first');
      assert.equal(stats.breaker, 'open');
      assert.equal(stats.consecutiveFailures, 2);
      assert.equal(stats.lastError?.code, 'HTTP');
      assert.ok(stats.cooldownUntil, 'an open breaker says until when');
      assert.ok(Date.parse(stats.cooldownUntil) >= openedAfter, 'the cooldown ends after the failure that opened it');
      assert.equal((await rt.chat(ask('three', route))).provider, 'up');
      const { events } = await collect(rt.stream(ask('four', route)));
      const done = events.at(-1);
      assert.ok(done && done.type === 'done');
      assert.equal(done.result.provider, 'up');
      assert.equal(served(first), 2, 'the cooling provider saw no new request');
      assert.equal((await providerStats(rt, 'up')).breaker, 'closed');

      // Half-open after the cooldown: the next call probes; a failed probe re-opens at once.
      await waitFor(async () => (await providerStats(rt, 'first')).breaker === 'half-open', { what: 'cooldown over' });
      assert.equal((await rt.chat(ask('probe fails', route))).provider, 'up');
      assert.equal(served(first), 3, 'the probe went to the cooling provider');
      assert.equal((await providerStats(rt, 'first')).breaker, 'open', 'one failed probe re-opens the breaker');

      // A successful probe closes it.
      await waitFor(async () => (await providerStats(rt, 'first')).breaker === 'half-open', { what: 'second cooldown over' });
      first.setFault(undefined);
      const healed = await rt.chat(ask('probe succeeds', route));
      assert.equal(healed.provider, 'first');
      assert.equal(served(first), 4);
      stats = await providerStats(rt, 'first');
      assert.equal(stats.breaker, 'closed');
      assert.equal(stats.consecutiveFailures, 0);
      assert.equal(stats.cooldownUntil, undefined);
      assert.equal((await rt.chat(ask('back to normal', route))).provider, 'first');
    });
  });

  test('a conversation with provider [down, up] sends and streams through the fallback', async () => {
    await withRoutes({}, async ({ rt }) => {
      const conv = await rt.conversation({ provider: ['down', 'up'], model: 'parley-echo', system: 'Be brief.' });
      try {
        const first = await conv.send('hello over there');
        assert.equal(first.provider, 'up');
        const { events, error } = await collect(conv.stream('and again'));
        assert.equal(error, undefined);
        const last = events.at(-1);
        assert.ok(last && last.type === 'done');
        assert.equal(last.result.provider, 'up');
        assert.deepEqual(
          conv.messages.map((m) => m.role),
          ['system', 'user', 'assistant', 'user', 'assistant'],
        );
        assert.equal(conv.messages[4]!.content, last.result.content);
      } finally {
        await conv.close();
      }
    });
  });
});
