/**
 * runtime.shutdown(opts): null and undefined take the defaults; graceMs:
 * Infinity (or any grace past what a timer holds) waits for the calls in
 * flight; a bad graceMs or a non-object rejects with CONFIG and leaves the
 * runtime running; a second valid call resolves with the same report, a
 * second bad one still rejects with CONFIG.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ask, rejectsWith, withStack } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';

for (const workers of [1, 2]) {
  describe(`runtime.shutdown options (workers: ${workers})`, () => {
    test('shutdown(null) is accepted and a second call resolves with the same report', async () => {
      await withStack({}, () => ({ workers }), async ({ rt }) => {
        await rt.chat(ask('before'));
        const report = await rt.shutdown(null);
        assert.equal(rt.state, 'closed');
        assert.equal(report.forced, false);
        assert.equal(await rt.shutdown(), report);
        assert.equal(await rt.shutdown({ graceMs: 0 }), report);
        // A bad argument is still refused, not answered with the first report.
        await rejectsWith(rt.shutdown({ graceMs: -1 }), 'CONFIG');
      });
    });

    test('a bad graceMs or options value rejects with CONFIG and the runtime keeps serving', async () => {
      await withStack({}, () => ({ workers }), async ({ rt }) => {
        const bad: unknown[] = [{ graceMs: Number.NaN }, { graceMs: -1 }, { graceMs: -Infinity }, { graceMs: '100' }, { graceMs: null }, 5, 'soon', true];
        for (const opts of bad) {
          await rejectsWith(rt.shutdown(opts as { graceMs?: number }), 'CONFIG');
          assert.equal(rt.state, 'running', `after ${String(JSON.stringify(opts))}`);
        }
        assert.ok((await rt.chat(ask('still running'))).content.length > 0);
      });
    });

    for (const graceMs of [Infinity, 2 ** 31]) {
      test(`graceMs: ${graceMs} waits for the calls in flight`, async () => {
        // The reply's headers come after 1.5 s; the default grace (5 s) would do too, but a
        // grace past setTimeout's range used to become 1 ms and abort the call at once.
        await withStack({ fault: { kind: 'slow-headers', delayMs: 1_500 } }, () => ({ workers, timeoutMs: 30_000 }), async ({ server, rt }) => {
          const served = server.stats().requestsServed;
          const call = rt.chat(ask('in flight'));
          const stream = (async () => {
            let text = '';
            for await (const event of rt.stream(ask('streaming'))) if (event.type === 'text') text += event.text;
            return text;
          })();
          await waitFor(() => server.stats().requestsServed >= served + 2, { what: 'both requests reached the server' });
          const report = await rt.shutdown({ graceMs });
          assert.ok((await call).content.length > 0);
          assert.ok((await stream).length > 0);
          assert.equal(report.drained, 2);
          assert.equal(report.aborted, 0);
          assert.equal(report.forced, false);
          assert.equal(rt.state, 'closed');
        });
      });
    }
  });
}
