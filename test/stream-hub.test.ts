import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hubCounters } from '../src/host/stream-hub.ts';
import { ask, assertCode, collect, textOf, warm, withStack } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';
import { inFlightOf, testWorkers } from './helpers/workers-mode.ts';

/**
 * A worker's streams share one port to the host (its stream hub) once the
 * host has adopted it: every stream still gets each of its tokens once, in
 * order, ends once, and can be left early, while one postMessage carries
 * several streams' messages.
 */
const STREAMS = 24;
const TOKENS = 12;

async function streamAll(rt: Parameters<Parameters<typeof withStack>[2]>[0]['rt'], n: number) {
  return Promise.all(
    Array.from({ length: n }, (_, i) => collect(rt.stream(ask(`stream ${i}, a few words please`, { provider: 'openai', maxTokens: TOKENS })))),
  );
}

function assertWhole(results: Awaited<ReturnType<typeof streamAll>>): void {
  for (const { events, error } of results) {
    assert.equal(error, undefined);
    const last = events.at(-1);
    assert.ok(last && last.type === 'done', 'each stream ends with done');
    assert.equal(events.filter((e) => e.type === 'done').length, 1);
    assert.equal(textOf(events), last.result.content, 'every token once, in order');
    assert.equal(events.filter((e) => e.type === 'text').length, TOKENS);
  }
}

/** Streams until every worker's hub is adopted: the first streams on each worker offer its hub, and in pool mode a thread may get its first stream late. */
async function hubsAdopted(rt: Parameters<typeof streamAll>[0]): Promise<void> {
  const adopted = hubCounters.adopted;
  await waitFor(
    async () => {
      assertWhole(await streamAll(rt, 4 * testWorkers));
      return hubCounters.adopted - adopted >= testWorkers;
    },
    { what: "every worker's hub adopted" },
  );
}

describe('stream hub', () => {
  test('concurrent streams travel together on the hub, each whole and in order', async () => {
    await withStack({ tokenDelayMs: 5, fillToMaxTokens: true }, () => ({}), async ({ server, rt }) => {
      await warm({ server, rt });
      await hubsAdopted(rt);
      const messages = hubCounters.messages;
      const carried = hubCounters.streamMessages;
      assertWhole(await streamAll(rt, STREAMS));
      const sent = hubCounters.messages - messages;
      const streamMessages = hubCounters.streamMessages - carried;
      // Every stream sent at least its end over the hub...
      assert.ok(streamMessages >= STREAMS, `${streamMessages} stream messages on the hub for ${STREAMS} streams`);
      // ...and postMessages carried several streams' messages at a time.
      assert.ok(sent < streamMessages, `${sent} hub postMessages for ${streamMessages} stream messages`);
    });
  });

  test('a stream on the hub left early is cancelled; the others finish whole', async () => {
    await withStack({ tokenDelayMs: 20, fillToMaxTokens: true }, () => ({}), async ({ server, rt }) => {
      await warm({ server, rt });
      await hubsAdopted(rt);
      const long = ask('a long one', { provider: 'openai', maxTokens: 2_000 });
      const left = (async () => {
        let n = 0;
        for await (const event of rt.stream(long)) if (event.type === 'text' && ++n === 3) break;
        return n;
      })();
      const others = streamAll(rt, 8);
      assert.equal(await left, 3);
      assertWhole(await others);
      // The left stream's request ends in the worker too (it would run for 40 s more).
      await waitFor(async () => inFlightOf(await rt.stats()) === 0, { what: 'no call in flight in the workers' });
    });
  });

  test('a stream on the hub that fails gives the events before the failure first, then the error', async () => {
    await withStack({ tokenDelayMs: 0, fillToMaxTokens: true }, () => ({ maxRetries: 0 }), async ({ server, rt }) => {
      await warm({ server, rt });
      await hubsAdopted(rt);
      const carried = hubCounters.streamMessages;
      // Instant tokens: the events and the error come in the same turn, so in one hub message.
      server.injectFault({ kind: 'truncate', afterTokens: 4 });
      const { events, error } = await collect(rt.stream(ask('cut me short', { provider: 'openai', maxTokens: TOKENS })));
      assertCode(error, 'INCOMPLETE');
      assert.equal(events.filter((e) => e.type === 'text').length, 4);
      assert.ok(hubCounters.streamMessages > carried, 'the failed stream went over the hub');
    });
  });

  test('streams ended by the host before the hub arrived leave later streams working', async () => {
    await withStack({ tokenDelayMs: 5, fillToMaxTokens: true }, () => ({}), async ({ server, rt }) => {
      await warm({ server, rt });
      // The first stream on a fresh worker carries the hub offer; abort it at once, whatever the offer's fate.
      for (let i = 0; i < 3; i++) {
        const controller = new AbortController();
        const stream = rt.stream(ask('stop me', { provider: 'openai', maxTokens: 50 }), { signal: controller.signal });
        const first = stream[Symbol.asyncIterator]().next();
        controller.abort();
        await first.catch(() => undefined);
      }
      for (let i = 0; i < 3; i++) assertWhole(await streamAll(rt, 8));
    });
  });
});
