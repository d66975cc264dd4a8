import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { expose, wrap } from 'comlink/dist/esm/comlink.mjs';
import { batchingEndpoint } from '../src/wire/batching-endpoint.ts';
import { installErrorTransfer } from '../src/wire/error-transfer.ts';
import { ParleyError } from '../src/shared/errors.ts';
import { waitFor } from './helpers/wait-for.ts';

installErrorTransfer();

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** Counts the raw postMessage deliveries a port receives. */
function countDeliveries(port: MessagePort): { count: number } {
  const seen = { count: 0 };
  port.on('message', () => seen.count++);
  return seen;
}

describe('batchingEndpoint', () => {
  it('sends the first message of a turn at once, and gathers the rest into one postMessage', async () => {
    const { port1, port2 } = new MessageChannel();
    const endpoint = batchingEndpoint(port1);
    try {
      endpoint.postMessage({ n: 1 });
      // Already on the port, before this turn ends: a lone call waits for nothing.
      assert.deepEqual(receiveMessageOnPort(port2)?.message, [{ n: 1 }]);
      endpoint.postMessage({ n: 2 });
      endpoint.postMessage({ n: 3 });
      endpoint.postMessage({ n: 4 });
      assert.equal(receiveMessageOnPort(port2), undefined, 'the followers wait for the end of the turn');
      await nextTurn();
      assert.deepEqual(receiveMessageOnPort(port2)?.message, [{ n: 2 }, { n: 3 }, { n: 4 }]);
      assert.equal(receiveMessageOnPort(port2), undefined);
      // The next turn opens a new window: its first message goes at once again.
      endpoint.postMessage({ n: 5 });
      assert.deepEqual(receiveMessageOnPort(port2)?.message, [{ n: 5 }]);
    } finally {
      port1.close();
    }
  });

  it('flush() sends what is queued now, so a closing port loses nothing', () => {
    const { port1, port2 } = new MessageChannel();
    const endpoint = batchingEndpoint(port1);
    endpoint.postMessage('a');
    endpoint.postMessage('b');
    endpoint.flush();
    port1.close();
    assert.deepEqual(receiveMessageOnPort(port2)?.message, ['a']);
    assert.deepEqual(receiveMessageOnPort(port2)?.message, ['b']);
  });

  it('delivers a batch to every listener, in order', async () => {
    const { port1, port2 } = new MessageChannel();
    const sender = batchingEndpoint(port1);
    const receiver = batchingEndpoint(port2);
    const first: number[] = [];
    const second: number[] = [];
    receiver.addEventListener('message', (ev: { data: unknown }) => first.push(ev.data as number));
    receiver.addEventListener('message', (ev: { data: unknown }) => second.push(ev.data as number));
    try {
      for (let n = 1; n <= 5; n++) sender.postMessage(n);
      await waitFor(() => first.length >= 5 && second.length >= 5, { what: 'both listeners got the batch' });
      assert.deepEqual(first, [1, 2, 3, 4, 5]);
      assert.deepEqual(second, [1, 2, 3, 4, 5]);
    } finally {
      port1.close();
    }
  });

  it('under Comlink: calls in one turn share a postMessage, answers come back in one, and results match', async () => {
    const { port1, port2 } = new MessageChannel();
    const toServer = countDeliveries(port2);
    const toClient = countDeliveries(port1);
    // The event-loop turns the server answered in. The receiver delivers a
    // batch a time slice at a time (time-slicer.ts), so on a starved machine
    // 49 calls may be answered over several turns: each turn's answers must
    // still travel together, whatever the turns' number.
    let turn = 0;
    let ticking = true;
    const tick = (): void => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const answeredIn = new Set<number>();
    expose(
      {
        double: (n: number) => {
          answeredIn.add(turn);
          return n * 2;
        },
      },
      batchingEndpoint(port2),
    );
    const remote = wrap<{ double(n: number): number }>(batchingEndpoint(port1));
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, n) => remote.double(n)));
      assert.deepEqual(results, Array.from({ length: 50 }, (_, n) => n * 2));
      // One message for the first call, one for the other 49.
      assert.ok(toServer.count <= 2, `50 calls took ${toServer.count} postMessages`);
      // Back: per turn that answered, its first answer at once and the rest in one message.
      assert.ok(toClient.count <= 2 * answeredIn.size, `50 answers over ${answeredIn.size} turns took ${toClient.count} postMessages`);
      assert.ok(toClient.count < 50, `50 answers took ${toClient.count} postMessages`);
    } finally {
      ticking = false;
      port1.close();
    }
  });

  it('a request the structured clone refuses fails alone with INVALID_REQUEST; its turn-mates are answered', async () => {
    const { port1, port2 } = new MessageChannel();
    expose({ echo: (v: unknown) => v }, batchingEndpoint(port2));
    const remote = wrap<{ echo(v: unknown): unknown }>(batchingEndpoint(port1));
    try {
      const [before, bad, after] = await Promise.allSettled([remote.echo('a'), remote.echo({ fn: () => 1 }), remote.echo('b')]);
      assert.deepEqual(before, { status: 'fulfilled', value: 'a' });
      assert.deepEqual(after, { status: 'fulfilled', value: 'b' });
      assert.equal(bad.status, 'rejected');
      const err = (bad as PromiseRejectedResult).reason;
      assert.ok(err instanceof ParleyError);
      assert.equal(err.code, 'INVALID_REQUEST');
    } finally {
      port1.close();
    }
  });

  it('a reply the structured clone refuses fails its own call with BAD_RESPONSE; the others are answered', async () => {
    const { port1, port2 } = new MessageChannel();
    expose({ make: (kind: string) => (kind === 'bad' ? { fn: () => 1 } : kind) }, batchingEndpoint(port2));
    const remote = wrap<{ make(kind: string): unknown }>(batchingEndpoint(port1));
    try {
      const settled = await Promise.allSettled([remote.make('x'), remote.make('y'), remote.make('bad'), remote.make('z')]);
      assert.deepEqual(
        settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<unknown>).value),
        ['x', 'y', 'z'],
      );
      const err = (settled[2] as PromiseRejectedResult).reason;
      assert.ok(err instanceof ParleyError);
      assert.equal(err.code, 'BAD_RESPONSE');
      // The channel still works after the failure.
      assert.equal(await remote.make('again'), 'again');
    } finally {
      port1.close();
    }
  });
});
