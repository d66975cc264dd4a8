import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StreamEvent } from '../src/index.ts';
import { ask, collect, sleep, textOf, warm, withStack } from './helpers/fixtures.ts';
import { inFlightOf } from './helpers/workers-mode.ts';

/**
 * About 1500 tokens of 4 KiB each, sent as fast as the socket takes them:
 * far more than the socket buffers and the two batches the worker may run
 * ahead hold, even when a loaded machine makes each batch large.
 */
const BIG = { kind: 'oversized', bytes: 6 * 1024 * 1024 } as const;

describe('runtime stream backpressure', () => {
  for (const provider of ['openai', 'ollama']) {
    test(`a slow consumer (${provider}) gets every token in order, and the worker stops reading meanwhile`, async () => {
      await withStack({ tokenDelayMs: 0 }, () => ({ streamCredits: 2, timeoutMs: 30_000 }), async ({ server, rt }) => {
        await warm({ server, rt });
        const request = ask('a long answer please', { provider, maxTokens: 2_000 });

        // The reference: the same reply read at full speed.
        server.injectFault(BIG);
        const fastStarted = performance.now();
        const fast = await collect(rt.stream(request));
        const fastMs = performance.now() - fastStarted;
        assert.equal(fast.error, undefined);
        const reference = fast.events.at(-1);
        assert.ok(reference && reference.type === 'done');
        assert.ok(fast.events.filter((e) => e.type === 'text').length > 200, 'a long stream');

        server.injectFault(BIG);
        const events: StreamEvent[] = [];
        let stillReadingDuringPause: number | undefined;
        for await (const event of rt.stream(request)) {
          events.push(event);
          if (events.length === 5) {
            // Far longer than the whole reply took at full speed: without
            // backpressure the worker would have read it all and finished.
            await sleep(Math.min(3_000, Math.max(400, 3 * fastMs)));
            stillReadingDuringPause = inFlightOf(await rt.stats());
          } else if (events.length % 100 === 0) {
            await sleep(5);
          }
        }
        assert.equal(stillReadingDuringPause, 1, 'the worker paused reading while the consumer slept');
        const last = events.at(-1);
        assert.ok(last && last.type === 'done');
        assert.equal(events.filter((e) => e.type === 'done').length, 1);
        assert.equal(textOf(events), last.result.content);
        assert.equal(last.result.content, reference.result.content);
        assert.equal(textOf(events), textOf(fast.events));
      });
    });
  }
});
