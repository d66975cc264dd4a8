import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StreamEvent } from '../src/index.ts';
import { PROTOCOLS, ask, collect, textOf, warm, withStack } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';
import { inFlightOf } from './helpers/workers-mode.ts';

/**
 * About 4000 tokens of 4 KiB each, sent as fast as the socket takes them:
 * far more than loopback socket buffers (a few MB each way) and the batches
 * the worker may run ahead hold, so a reader that stops blocks the server.
 */
const BIG = { kind: 'oversized', bytes: 16 * 1024 * 1024 } as const;

describe('runtime stream backpressure', () => {
  for (const provider of PROTOCOLS) {
    test(`a slow consumer (${provider}) gets every token in order, and the worker stops reading meanwhile`, async () => {
      await withStack({ tokenDelayMs: 0 }, () => ({ streamCredits: 2, timeoutMs: 120_000, maxResponseBytes: 4 * BIG.bytes }), async ({ server, rt }) => {
        await warm({ server, rt });
        const request = ask('a long answer please', { provider, maxTokens: 2_000 });

        // The reference: the same reply read at full speed.
        server.injectFault(BIG);
        const fast = await collect(rt.stream(request));
        assert.equal(fast.error, undefined);
        const reference = fast.events.at(-1);
        assert.ok(reference && reference.type === 'done');
        assert.ok(fast.events.filter((e) => e.type === 'text').length > 200, 'a long stream');

        server.injectFault(BIG);
        const events: StreamEvent[] = [];
        let paused = false;
        for await (const event of rt.stream(request)) {
          events.push(event);
          if (events.length !== 5) continue;
          // The consumer stops here. Backpressure must reach the model server:
          // the worker stops reading, the socket fills, the server waits for
          // 'drain'. Without it the worker would read the whole reply and the
          // server would never stay blocked.
          await waitFor(() => server.stats().responsesBlocked === 1, { what: 'the server blocked by the paused consumer' });
          // A stats() round trip turns the worker's event loop: a worker that
          // kept reading would have unblocked the server meanwhile.
          assert.equal(inFlightOf(await rt.stats()), 1, 'the worker still holds the call');
          assert.equal(server.stats().responsesBlocked, 1, 'the server is still blocked');
          paused = true;
        }
        assert.ok(paused);
        assert.equal(server.stats().responsesBlocked, 0);
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
