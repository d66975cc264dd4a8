/**
 * The async iterator protocol of runtime.stream(), for a single provider
 * (the stream reader's own iterator) and a fallback route (the router's):
 * next() calls made before the last one settled all settle, in order; one
 * stream is one call, read once (a second iteration is INVALID_REQUEST);
 * an iterator dropped without return() releases its call and socket at the
 * call's deadline.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ParleyError, type Runtime, type RuntimeStats, type StreamEvent } from '../src/index.ts';
import { ask, rejectsWith, textOf, withStack } from './helpers/fixtures.ts';
import { settlesWithin, waitFor } from './helpers/wait-for.ts';

/** The single provider, and a fallback route whose first provider answers. */
const ROUTES: [string, string | string[]][] = [
  ['one provider', 'openai'],
  ['a fallback route', ['openai', 'ollama']],
];

type Outcome = { item?: IteratorResult<StreamEvent>; error?: unknown };

/** Calls next() `n` times at once; resolves with the outcomes in the order they settled, each with its index. */
async function nextAtOnce(iterator: AsyncIterator<StreamEvent>, n: number): Promise<(Outcome & { index: number })[]> {
  const settled: (Outcome & { index: number })[] = [];
  const calls = Array.from({ length: n }, (_, index) =>
    iterator.next().then(
      (item) => void settled.push({ index, item }),
      (error: unknown) => void settled.push({ index, error }),
    ),
  );
  await settlesWithin(Promise.all(calls), 20_000, `${n} next() calls`);
  return settled;
}

function busy(stats: RuntimeStats): number {
  return stats.inFlight + stats.workers.reduce((n, w) => n + w.inFlight + w.providers.reduce((m, p) => m + p.running + p.pending, 0), 0);
}

async function assertReleased(rt: Runtime, what: string): Promise<void> {
  await waitFor(async () => busy(await rt.stats()) === 0, { what: `${what}: no call, worker call or socket left`, timeoutMs: 10_000 });
}

for (const workers of [1, 2]) {
  describe(`stream iterator protocol (workers: ${workers})`, () => {
    for (const [name, provider] of ROUTES) {
      test(`${name}: next() calls made at once all settle, in order, ending with one done`, async () => {
        await withStack({ tokenDelayMs: 2 }, () => ({ workers }), async ({ rt }) => {
          const iterator = rt.stream(ask('at once', { provider, maxTokens: 8 }))[Symbol.asyncIterator]();
          const settled = await nextAtOnce(iterator, 40);
          assert.deepEqual(
            settled.map((s) => s.index),
            settled.map((_, i) => i),
            'settled in the order made',
          );
          assert.ok(settled.every((s) => s.error === undefined));
          const events = settled.filter((s) => !s.item!.done).map((s) => s.item!.value as StreamEvent);
          const dones = events.filter((e) => e.type === 'done');
          assert.equal(dones.length, 1);
          assert.equal(events.at(-1)!.type, 'done', 'done is the last event');
          assert.equal(textOf(events), (dones[0] as Extract<StreamEvent, { type: 'done' }>).result.content);
          assert.ok(settled.length > events.length, 'the calls after the end got done: true');
          assert.deepEqual((await iterator.next()).done, true);
          await assertReleased(rt, name);
        });
      });

      test(`${name}: next() calls made at once on a failing stream: one rejects, the rest settle`, async () => {
        await withStack({ fault: { kind: 'stream-error', afterTokens: 2 } }, () => ({ workers }), async ({ rt }) => {
          const iterator = rt.stream(ask('failing', { provider, maxTokens: 40 }))[Symbol.asyncIterator]();
          const settled = await nextAtOnce(iterator, 20);
          assert.deepEqual(
            settled.map((s) => s.index),
            settled.map((_, i) => i),
          );
          const errors = settled.filter((s) => s.error !== undefined);
          assert.equal(errors.length, 1);
          assert.ok(errors[0]!.error instanceof ParleyError && errors[0]!.error.code === 'PROVIDER');
          const after = settled.slice(settled.indexOf(errors[0]!) + 1);
          assert.ok(after.length > 0 && after.every((s) => s.item?.done === true), 'every call after the error got done: true');
          assert.ok(!settled.some((s) => s.item && !s.item.done && s.item.value.type === 'done'));
          await assertReleased(rt, name);
        });
      });

      test(`${name}: a stream is read once; a second iteration is INVALID_REQUEST and leaves the first alone`, async () => {
        await withStack({ tokenDelayMs: 5 }, () => ({ workers }), async ({ server, rt }) => {
          const served = server.stats().requestsServed;
          const stream = rt.stream(ask('once', { provider, maxTokens: 12 }));
          const events: StreamEvent[] = [];
          for await (const event of stream) {
            events.push(event);
            // During the first loop...
            if (events.length === 1) await rejectsWith(stream[Symbol.asyncIterator]().next(), 'INVALID_REQUEST');
          }
          const done = events.at(-1)!;
          assert.equal(done.type, 'done');
          assert.equal(textOf(events), (done as Extract<StreamEvent, { type: 'done' }>).result.content);
          // ...and after it: an error, not an empty loop.
          await rejectsWith(
            (async () => {
              for await (const _ of stream) assert.fail('a finished stream yielded an event');
            })(),
            'INVALID_REQUEST',
          );
          assert.equal(server.stats().requestsServed, served + 1, 'one stream, one request');
          await assertReleased(rt, name);
        });
      });

      test(`${name}: aborting after the whole reply arrived, before 'done' was read, ends the loop with ABORTED`, async () => {
        await withStack({}, () => ({ workers }), async ({ rt }) => {
          const controller = new AbortController();
          const iterator = rt.stream(ask('arrived whole', { provider, maxTokens: 24 }), { signal: controller.signal })[Symbol.asyncIterator]();
          assert.equal((await iterator.next()).value?.type, 'text');
          // The call has ended on the host: the rest of the reply and its result wait unread.
          await waitFor(async () => (await rt.stats()).inFlight === 0, { what: 'the whole reply arrived' });
          const reason = new Error('stop pressed');
          controller.abort(reason);
          const err = await rejectsWith(iterator.next(), 'ABORTED');
          assert.equal(err.cause, reason);
          assert.equal((await iterator.next()).done, true);
        });
      });

      test(`${name}: an iterator read once and dropped without return() releases everything at its deadline`, async () => {
        await withStack({ tokenDelayMs: 20 }, () => ({ workers, timeoutMs: 60_000 }), async ({ server, rt }) => {
          // Threads up first: the 1.5 s deadline below is the dropped stream's, not a loaded machine's start-up.
          await rt.chat(ask('warm', { provider }));
          server.dropConnections();
          const iterator = rt.stream(ask('dropped', { provider, maxTokens: 100_000 }), { timeoutMs: 1_500 })[Symbol.asyncIterator]();
          assert.equal((await iterator.next()).value?.type, 'text');
          // Dropped here: neither read again nor returned. The call's deadline (1.5 s) must release it.
          await assertReleased(rt, name);
          await waitFor(() => server.stats().connectionsOpen === 0, { what: 'the dropped stream socket closed', timeoutMs: 10_000 });
          const stats = await rt.stats();
          assert.equal(stats.failed, 1, 'the dropped call ended (TIMEOUT)');
          // The dropped iterator, read again, gives what the call came to: the
          // events that had already arrived, then TIMEOUT. (Whether any had
          // arrived is the machine's timing: when the worker's own deadline
          // ended the call, what it sent before is kept, as a body's bytes are.)
          await rejectsWith(
            (async () => {
              for (let step = await iterator.next(); !step.done; step = await iterator.next()) assert.equal(step.value.type, 'text');
            })(),
            'TIMEOUT',
          );
          assert.equal((await iterator.next()).done, true);
        });
      });
    }
  });
}
