import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StreamEvent } from '../src/index.ts';
import { PROTOCOLS, ask, assertCode, collect, rejectsWith, streamFailure, textOf, warm, withStack } from './helpers/fixtures.ts';
import { settlesWithin, waitFor } from './helpers/wait-for.ts';
import { inFlightOf } from './helpers/workers-mode.ts';

const LONG = { maxTokens: 1_000 };
/**
 * The deadline of the calls that get aborted: a runtime that waited for it
 * instead of reacting to the abort would miss the hang guard (HANG_GUARD_MS).
 */
const DEADLINE_MS = 120_000;
const HANG_GUARD_MS = 30_000;

describe('runtime abort and early exit', () => {
  test('an already-aborted signal rejects with ABORTED before any I/O', async () => {
    await withStack({}, () => ({}), async ({ server, rt }) => {
      const served = server.stats().requestsServed;
      const signal = AbortSignal.abort(new Error('user went away'));
      await rejectsWith(rt.chat(ask('a'), { signal }), 'ABORTED');
      await rejectsWith(rt.models(undefined, { signal }), 'ABORTED');
      assertCode((await streamFailure(() => rt.stream(ask('a'), { signal }))).error, 'ABORTED');
      assert.equal(server.stats().requestsServed, served);
    });
  });

  test('aborting mid-stream rejects with ABORTED, the reason as its cause, long before the deadline, and frees the socket', async () => {
    await withStack({ tokenDelayMs: 20 }, () => ({ timeoutMs: DEADLINE_MS }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        const controller = new AbortController();
        const events: StreamEvent[] = [];
        const reading = (async () => {
          for await (const event of rt.stream(ask('a', { provider, ...LONG }), { signal: controller.signal })) {
            events.push(event);
            if (events.length === 3) controller.abort(new Error('the user pressed stop'));
          }
        })();
        const { error } = await settlesWithin(reading, HANG_GUARD_MS);
        const err = await rejectsWith(Promise.reject(error), 'ABORTED');
        assert.ok(err.cause instanceof Error && err.cause.message === 'the user pressed stop', 'the abort reason is the cause');
        assert.ok(!events.some((e) => e.type === 'done'));
        await waitFor(() => server.stats().connectionsOpen === 0, { what: 'aborted stream socket closed' });
      }
      const stats = await rt.stats();
      assert.equal(stats.inFlight, 0);
      assert.equal(inFlightOf(stats), 0);
    });
  });

  test('aborting a chat waiting for its headers rejects with ABORTED and frees the socket', async () => {
    await withStack({}, () => ({ timeoutMs: DEADLINE_MS }), async ({ server, rt }) => {
      await warm({ server, rt });
      server.injectFault({ kind: 'slow-headers', delayMs: DEADLINE_MS });
      const controller = new AbortController();
      const served = server.stats().requestsServed;
      const call = rt.chat(ask('a'), { signal: controller.signal });
      await waitFor(() => server.stats().requestsServed > served, { what: 'request reached the server' });
      controller.abort();
      const { error } = await settlesWithin(call, HANG_GUARD_MS);
      await rejectsWith(Promise.reject(error), 'ABORTED');
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'socket closed' });
      assert.ok((await rt.chat(ask('next one'))).content.length > 0);
    });
  });

  test('leaving a for-await loop early cancels the HTTP request', async () => {
    await withStack({ tokenDelayMs: 10 }, () => ({ timeoutMs: 20_000 }), async ({ server, rt }) => {
      await warm({ server, rt });
      for (const provider of PROTOCOLS) {
        let seen = 0;
        for await (const event of rt.stream(ask('a', { provider, ...LONG }))) {
          assert.notEqual(event.type, 'done');
          if (++seen === 3) break;
        }
        assert.ok(server.stats().connectionsOpen <= 1);
        await waitFor(() => server.stats().connectionsOpen === 0, { what: 'the cancelled request socket closed' });
      }
      await waitFor(async () => inFlightOf(await rt.stats()) === 0, { what: 'worker call ended' });
      const stats = await rt.stats();
      assert.equal(stats.inFlight, 0);
      // The runtime keeps working afterwards.
      const { events, error } = await collect(rt.stream(ask('after', { maxTokens: 5 })));
      assert.equal(error, undefined);
      assert.equal(events.at(-1)?.type, 'done');
    });
  });

  test('a stream left early whose iterator is returned before the first event still cancels', async () => {
    await withStack({ tokenDelayMs: 10 }, () => ({ timeoutMs: 20_000 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const iterator = rt.stream(ask('a', LONG))[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.done, false);
      await iterator.return?.();
      assert.deepEqual(await iterator.next(), { value: undefined, done: true });
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'socket closed' });
    });
  });

  test('aborting one of two concurrent streams leaves the other complete', async () => {
    await withStack({ tokenDelayMs: 5 }, () => ({ timeoutMs: 20_000 }), async ({ server, rt }) => {
      await warm({ server, rt });
      const controller = new AbortController();
      const aborted = (async () => {
        let n = 0;
        for await (const _ of rt.stream(ask('stop me', { provider: 'openai', ...LONG }), { signal: controller.signal })) {
          if (++n === 3) controller.abort();
        }
      })();
      const kept = collect(rt.stream(ask('keep me', { provider: 'ollama', maxTokens: 120 })));
      await rejectsWith(aborted, 'ABORTED');
      const { events, error } = await kept;
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      assert.equal(textOf(events), last.result.content);
      // Nothing of it was lost: the same request, alone, gets the same reply.
      assert.equal(last.result.content, (await rt.chat(ask('keep me', { provider: 'ollama', maxTokens: 120 }))).content);
      await waitFor(() => server.stats().connectionsOpen <= 1, { what: 'aborted socket closed' });
    });
  });
});
