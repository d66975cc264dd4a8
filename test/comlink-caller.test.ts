import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { batchingEndpoint } from '../src/wire/batching-endpoint.ts';
import { ComlinkCaller } from '../src/host/transport/comlink-caller.ts';
import { installErrorTransfer } from '../src/wire/error-transfer.ts';
import { ParleyError } from '../src/shared/errors.ts';

installErrorTransfer();

interface Api {
  add(a: number, b: number): Promise<number>;
  fail(code: 'HTTP' | 'TOO_LARGE'): Promise<never>;
  plain(): Promise<never>;
  hang(): Promise<never>;
  listen(port: MessagePort): Promise<void>;
}

const api: Api = {
  add: async (a, b) => a + b,
  fail: async (code) => {
    throw new ParleyError(code, `failed with ${code}`, { provider: 'p', status: 503, retryable: true });
  },
  plain: async () => {
    throw new RangeError('not a ParleyError');
  },
  hang: () => new Promise<never>(() => undefined),
  listen: async (port) => {
    port.on('message', (m: unknown) => port.postMessage({ echo: m }));
  },
};

/** A Comlink `expose`d object on one end of a channel, the caller on the other. */
function connect(endpoint: 'batching' | 'comlink' = 'batching') {
  const { port1, port2 } = new MessageChannel();
  expose(api, endpoint === 'batching' ? batchingEndpoint(port2) : nodeEndpoint(port2));
  const caller = new ComlinkCaller<Api>(endpoint === 'batching' ? batchingEndpoint(port1) : nodeEndpoint(port1));
  return { caller, close: () => port1.close() };
}

describe('ComlinkCaller', () => {
  it('calls a Comlink-exposed object, also over Comlink’s own node endpoint, and every answer finds its call', async () => {
    for (const kind of ['batching', 'comlink'] as const) {
      const { caller, close } = connect(kind);
      try {
        const sums = await Promise.all(Array.from({ length: 200 }, (_, i) => caller.call('add', [i, 1])));
        assert.deepEqual(sums, Array.from({ length: 200 }, (_, i) => i + 1));
        assert.equal(caller.waiting, 0);
      } finally {
        close();
      }
    }
  });

  it('a ParleyError thrown in the exposed object arrives with its class, code and fields', async () => {
    const { caller, close } = connect();
    try {
      await assert.rejects(caller.call('fail', ['TOO_LARGE']), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'TOO_LARGE');
        assert.equal(err.provider, 'p');
        assert.equal(err.status, 503);
        assert.equal(err.retryable, true);
        return true;
      });
      await assert.rejects(caller.call('plain', []), (err: unknown) => err instanceof Error && /not a ParleyError/.test(err.message));
      assert.equal(await caller.call('add', [2, 3]), 5, 'the channel serves on after errors');
    } finally {
      close();
    }
  });

  it('a call whose arguments cannot be cloned fails alone with INVALID_REQUEST', { timeout: 5_000 }, async () => {
    const { caller, close } = connect();
    try {
      const [bad, good] = await Promise.allSettled([caller.call('add', [(() => 1) as unknown as number, 1]), caller.call('add', [1, 1])]);
      assert.equal(bad.status, 'rejected');
      const err = (bad as PromiseRejectedResult).reason;
      assert.ok(err instanceof ParleyError);
      assert.equal(err.code, 'INVALID_REQUEST');
      assert.deepEqual(good, { status: 'fulfilled', value: 2 });
      assert.equal(caller.waiting, 0);
    } finally {
      close();
    }
  });

  it('transfers a port with the call', async () => {
    const { caller, close } = connect();
    const { port1, port2 } = new MessageChannel();
    try {
      await caller.call('listen', [port2], [port2]);
      const answer = new Promise((resolve) => port1.once('message', resolve));
      port1.postMessage('ping');
      assert.deepEqual(await answer, { echo: 'ping' });
    } finally {
      port1.close();
      close();
    }
  });

  it('close() rejects every waiting call with the reason, and later calls at once', async () => {
    const { caller, close } = connect();
    try {
      const waiting = [caller.call('hang', []), caller.call('hang', [])];
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(caller.waiting, 2);
      const reason = new ParleyError('WORKER_CRASHED', 'gone');
      caller.close(reason);
      for (const p of waiting) await assert.rejects(p, (err) => err === reason);
      await assert.rejects(caller.call('add', [1, 1]), (err) => err === reason);
      assert.equal(caller.waiting, 0);
    } finally {
      close();
    }
  });
});
