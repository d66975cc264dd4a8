/**
 * An AbortSignal's reason can be any value. Whatever it is, the call ends
 * with ABORTED, the reason itself is the error's `cause`, nothing escapes as
 * an uncaught exception, and the worker stops the HTTP request (the cancel
 * that crosses to it carries a description of the reason, never the value).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ParleyError, Runtime, RuntimeStats } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { ask, rejectsWith, withStack } from './helpers/fixtures.ts';
import { inFlightOf } from './helpers/workers-mode.ts';

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Reasons that break a naive `String(reason)` or `reason instanceof Error`, and two that do not. */
const REASONS: [string, () => unknown][] = [
  ['Object.create(null)', () => Object.create(null)],
  ['an object whose toString throws', () => ({ toString: () => { throw new Error('no string for you'); } })],
  ['a revoked Proxy', revokedProxy],
  ['a symbol', () => Symbol('stop')],
  ['an Error whose message getter throws', () => Object.defineProperty(new Error(), 'message', { get: () => { throw new Error('no message'); } })],
  ['null', () => null],
];

function busy(stats: RuntimeStats): number {
  return stats.workers.reduce((n, w) => n + w.inFlight + w.providers.reduce((m, p) => m + p.running + p.pending, 0), 0);
}

async function assertIdle(rt: Runtime, what: string): Promise<void> {
  await waitFor(async () => busy(await rt.stats()) === 0, { what: `${what}: no call or socket busy in the workers`, timeoutMs: 5_000 });
  assert.equal((await rt.stats()).inFlight, 0);
}

for (const workers of [1, 2]) {
  describe(`abort reasons of any kind (workers: ${workers})`, () => {
    test('a chat aborted while waiting for its headers rejects with ABORTED, the reason as cause, and its request stops', async () => {
      await withStack({}, () => ({ workers, timeoutMs: 30_000 }), async ({ server, rt }) => {
        server.setFault({ kind: 'slow-headers', delayMs: 20_000 });
        for (const [name, make] of REASONS) {
          const reason = make();
          const controller = new AbortController();
          const served = server.stats().requestsServed;
          const call = rt.chat(ask(name), { signal: controller.signal });
          // Marked handled at once: if a step below fails, its own error is the report, not this call's SHUTDOWN at teardown.
          call.catch(() => undefined);
          await waitFor(() => server.stats().requestsServed > served, { what: `${name}: request reached the server` });
          controller.abort(reason);
          const err: ParleyError = await rejectsWith(call, 'ABORTED');
          assert.equal(err.cause, reason, `${name}: the reason is the cause`);
          await assertIdle(rt, name);
        }
      });
    });

    test('a stream aborted mid-reply ends with ABORTED and the reason as cause', async () => {
      await withStack({ tokenDelayMs: 20 }, () => ({ workers, timeoutMs: 30_000 }), async ({ rt }) => {
        for (const [name, make] of REASONS) {
          const reason = make();
          const controller = new AbortController();
          let texts = 0;
          const reading = (async () => {
            for await (const event of rt.stream(ask(name, { maxTokens: 1_000 }), { signal: controller.signal })) {
              if (event.type === 'text' && ++texts === 1) controller.abort(reason);
            }
          })();
          const err = await rejectsWith(reading, 'ABORTED');
          assert.equal(err.cause, reason, `${name}: the reason is the cause`);
          await assertIdle(rt, name);
        }
      });
    });

    test('a signal already aborted with any reason rejects at once with ABORTED and sends nothing', async () => {
      await withStack({}, () => ({ workers }), async ({ server, rt }) => {
        const served = server.stats().requestsServed;
        for (const [name, make] of REASONS) {
          const reason = make();
          const signal = AbortSignal.abort(reason);
          assert.equal((await rejectsWith(rt.chat(ask(name), { signal }), 'ABORTED')).cause, reason, `${name}: chat`);
          assert.equal((await rejectsWith(rt.models(undefined, { signal }), 'ABORTED')).cause, reason, `${name}: models`);
          const stream = rt.stream(ask(name), { signal })[Symbol.asyncIterator]();
          assert.equal((await rejectsWith(stream.next(), 'ABORTED')).cause, reason, `${name}: stream`);
        }
        assert.equal(server.stats().requestsServed, served);
        assert.equal(inFlightOf(await rt.stats()), 0);
      });
    });
  });
}
