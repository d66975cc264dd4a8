import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Runtime } from '../src/index.ts';
import { PROTOCOLS, ask, chatRequestsSince as chatRequests, collect, rejectsWith, warm, withStack } from './helpers/fixtures.ts';
import { providerFigure } from './helpers/workers-mode.ts';

/**
 * A backoff drawn below this (full jitter) is past any test deadline but for
 * a chance of about 1 in 200,000: a retry that waited for the backoff instead
 * of the Retry-After would find it past the deadline and fail at once.
 */
const ENDLESS_BACKOFF_MS = 2_000_000_000;

async function retriesOf(rt: Runtime, provider: string): Promise<number> {
  const stats = await rt.stats();
  return providerFigure(stats, provider, 'retries');
}

describe('runtime retries', () => {
  test('a 503 with Retry-After is retried after the Retry-After, not the backoff, and the call succeeds (chat and stream, every protocol)', async () => {
    await withStack({}, () => ({ retryBaseMs: ENDLESS_BACKOFF_MS, retryMaxMs: ENDLESS_BACKOFF_MS }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        const retries = await retriesOf(rt, provider);
        let from = server.requests.length;
        server.injectFault({ kind: 'status', status: 503, retryAfter: '0' });
        const value = await rt.chat(ask('a', { provider }));
        assert.ok(value.content.length > 0);
        assert.equal(chatRequests(server, from), 2);

        from = server.requests.length;
        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 50 });
        const { events, error } = await collect(rt.stream(ask('b', { provider })));
        assert.equal(error, undefined);
        assert.equal(events.at(-1)?.type, 'done');
        assert.equal(chatRequests(server, from), 2);
        assert.equal(await retriesOf(rt, provider), retries + 2);
      }
    });
  });

  test('a 429 whose Retry-After is past the deadline fails with HTTP at once', async () => {
    await withStack({}, () => ({ timeoutMs: 3_000 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const from = server.requests.length;
      server.injectFault({ kind: 'status', status: 429, retryAfter: '60' });
      // HTTP, not TIMEOUT: the runtime did not wait for a Retry-After past the deadline.
      const err = await rejectsWith(rt.chat(ask('a')), 'HTTP');
      assert.equal(err.status, 429);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 60_000);
      assert.equal(chatRequests(server, from), 1);
    });
  });

  test('maxRetries 0 fails a retryable status at once', async () => {
    await withStack({}, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const from = server.requests.length;
      server.injectFault({ kind: 'status', status: 503, retryAfter: '0' });
      const err = await rejectsWith(rt.chat(ask('a')), 'HTTP');
      assert.equal(err.status, 503);
      assert.equal(chatRequests(server, from), 1);
    });
  });

  test('a retryable status that keeps coming fails after maxRetries retries', async () => {
    await withStack({}, () => ({ maxRetries: 2, retryBaseMs: 10, retryMaxMs: 50 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const from = server.requests.length;
      server.setFault({ kind: 'status', status: 502 });
      try {
        const err = await rejectsWith(rt.chat(ask('a')), 'HTTP');
        assert.equal(err.status, 502);
        assert.equal(chatRequests(server, from), 3);
      } finally {
        server.setFault(undefined);
      }
    });
  });

  test('a non-retryable 400 is not retried', async () => {
    await withStack({}, () => ({ maxRetries: 3 }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        const from = server.requests.length;
        server.injectFault({ kind: 'status', status: 400, retryAfter: '0' });
        const err = await rejectsWith(rt.chat(ask('a', { provider })), 'HTTP');
        assert.equal(err.status, 400);
        assert.equal(chatRequests(server, from), 1);
      }
    });
  });

  test('a stream that fails after tokens reached the caller is not retried', async () => {
    await withStack({}, () => ({ maxRetries: 3 }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        const from = server.requests.length;
        server.injectFault({ kind: 'reset', afterTokens: 3 });
        const { events, error } = await collect(rt.stream(ask('a', { provider, maxTokens: 40 })));
        await rejectsWith(Promise.reject(error), 'CONNECTION');
        assert.ok(events.some((e) => e.type === 'text'));
        assert.equal(chatRequests(server, from), 1);
      }
    });
  });

  test('keep-alive sockets the server dropped between calls never fail a call', async () => {
    await withStack({}, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (let i = 0; i < 30; i++) {
        await rt.chat(ask(`chat ${i}`, { provider: PROTOCOLS[i % 3], maxTokens: 4 }));
        server.dropConnections();
      }
      for (let i = 0; i < 10; i++) {
        const { error } = await collect(rt.stream(ask(`stream ${i}`, { provider: PROTOCOLS[i % 3], maxTokens: 4 })));
        assert.equal(error, undefined);
        server.dropConnections();
      }
    });
  });

  test('200 sequential chats with closeAfterRequests: 3 have no failures', async () => {
    await withStack({ closeAfterRequests: 3 }, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      await warm({ server, rt });
      let failures = 0;
      for (let i = 0; i < 200; i++) {
        try {
          await rt.chat(ask(`chat ${i}`, { provider: PROTOCOLS[i % 3], maxTokens: 4 }));
        } catch {
          failures++;
        }
      }
      assert.equal(failures, 0);
      assert.ok(server.stats().connectionsAccepted >= 60, 'the server did close its sockets');
      assert.equal((await rt.stats()).failed, 0);
    });
  });
});
