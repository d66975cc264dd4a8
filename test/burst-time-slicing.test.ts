/**
 * Bursts at the port: a backlog crosses in bounded batches, the receiver
 * delivers it a slice at a time, and nothing is lost or reordered on the way
 * (the ack flow that keeps a backlog from piling up on the receiving port
 * included). The runtime-level burst test is burst-heartbeat.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { batchingEndpoint } from '../src/wire/batching-endpoint.ts';
import { TimeSlicer } from '../src/wire/time-slicer.ts';
import { waitFor } from './helpers/wait-for.ts';

/** Keeps the thread busy, as a call's sync work does. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

describe('TimeSlicer', () => {
  test('runs work in order, and lets the event loop run between slices of a long backlog', async () => {
    const slicer = new TimeSlicer();
    const order: number[] = [];
    let immediateRanAfter = -1;
    setImmediate(() => (immediateRanAfter = order.length));
    for (let i = 0; i < 100; i++) {
      slicer.run(() => {
        busy(1);
        order.push(i);
      });
    }
    await waitFor(() => order.length === 100, { what: 'every piece ran' });
    assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i));
    // 100 ms of work: a callback queued before it ran in between, not after it all.
    assert.ok(immediateRanAfter > 0 && immediateRanAfter < 100, `the event loop ran after ${immediateRanAfter} pieces`);
  });
});

describe('batchingEndpoint under a burst', () => {
  test('1,000 messages of 100 KB posted in one tick arrive whole and in order, in batches of at most 64', async () => {
    const { port1, port2 } = new MessageChannel();
    const sizes: number[] = [];
    // Counts what crosses the port, before the receiving endpoint unpacks it.
    port2.on('message', (value: unknown) => {
      const batch = Array.isArray(value) ? value : (value as { parleyBatch?: unknown[] }).parleyBatch;
      if (batch) sizes.push(batch.length);
    });
    const sender = batchingEndpoint(port1);
    const receiver = batchingEndpoint(port2);
    const received: number[] = [];
    receiver.addEventListener('message', (event: { data: unknown }) => received.push((event.data as { n: number }).n));
    const context = 'x'.repeat(100 * 1024);
    try {
      for (let n = 0; n < 1_000; n++) sender.postMessage({ n, context });
      await waitFor(() => received.length === 1_000, { what: 'every message delivered', timeoutMs: 30_000 });
      assert.deepEqual(received, Array.from({ length: 1_000 }, (_, n) => n));
      assert.ok(Math.max(...sizes) <= 64, `largest batch ${Math.max(...sizes)}`);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 1_000);
      // The window closed: the next message goes at once, as a lone call's does.
      sender.postMessage({ n: 1_000, context: '' });
      await waitFor(() => received.at(-1) === 1_000, { what: 'a later message delivered' });
    } finally {
      port1.close();
    }
  });
});
