/**
 * Which failures are retried without counting. Only a request written to a
 * reused keep-alive socket that failed before any byte of its response (the
 * race with a server closing an idle socket) is retried for free; a response
 * that began, or a new socket that broke, counts against maxRetries, since
 * the server may have acted on the request.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';

type Behaviour = 'serve' | 'half-body-then-reset' | 'reset-before-response' | 'drop-on-reuse';

const reply = JSON.stringify({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'whole' }, finish_reason: 'stop' }] });
const ask = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };

for (const workers of [1, 2]) {
  describe(`retries once the response began (workers: ${workers})`, { timeout: 60_000 }, () => {
    let server: Server;
    let base: string;
    let behaviour: Behaviour = 'serve';
    let requests = 0;
    let droppedOnReuse = 0;
    const served = new WeakMap<Socket, number>();
    const runtimes: Runtime[] = [];

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      req.resume();
      requests++;
      const socket = req.socket;
      const before = served.get(socket) ?? 0;
      served.set(socket, before + 1);
      if (behaviour === 'half-body-then-reset' && requests === 1) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(reply.length) });
        res.write(reply.slice(0, reply.length >> 1));
        return void setImmediate(() => socket.resetAndDestroy());
      }
      if (behaviour === 'reset-before-response' && before === 0 && requests === 1) return void socket.resetAndDestroy();
      // The stale keep-alive race, made certain: the socket served a request
      // before, and closes on the next one without a byte of response.
      if (behaviour === 'drop-on-reuse' && before > 0 && droppedOnReuse === 0) {
        droppedOnReuse++;
        return void socket.destroy();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(reply);
    };

    const runtime = async (maxRetries: number) => {
      const rt = await createRuntime({
        workers,
        maxRetries,
        retryBaseMs: 10,
        timeoutMs: 10_000,
        heartbeatTimeoutMs: 10_000,
        providers: { p: { kind: 'openai', baseUrl: `${base}/v1` } },
      });
      runtimes.push(rt);
      return rt;
    };

    const settledInWorkers = (rt: Runtime) =>
      waitFor(async () => (await rt.stats()).workers.every((w) => w.inFlight === 0), { what: 'no call left in the workers' });

    before(async () => {
      server = createServer(handle);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    beforeEach(() => {
      requests = 0;
      droppedOnReuse = 0;
    });

    after(async () => {
      await Promise.all(runtimes.map((rt) => rt.shutdown({ graceMs: 500 })));
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('maxRetries 0: a 200 with half a body, then a reset, is CONNECTION and the request is sent once', async () => {
      behaviour = 'half-body-then-reset';
      const rt = await runtime(0);
      await assert.rejects(rt.chat({ ...ask, provider: 'p' }), (err: unknown) => err instanceof ParleyError && err.code === 'CONNECTION');
      assert.equal(requests, 1);
      await settledInWorkers(rt);
    });

    test('maxRetries 1: the same failure is retried once, and counted', async () => {
      behaviour = 'half-body-then-reset';
      const rt = await runtime(1);
      assert.equal((await rt.chat({ ...ask, provider: 'p' })).content, 'whole');
      assert.equal(requests, 2);
      const retries = (await rt.stats()).workers.flatMap((w) => w.providers).reduce((sum, p) => sum + p.retries, 0);
      assert.equal(retries, 1);
    });

    test('maxRetries 0: a new socket reset before any response byte is CONNECTION, sent once', async () => {
      behaviour = 'reset-before-response';
      const rt = await runtime(0);
      await assert.rejects(rt.chat({ ...ask, provider: 'p' }), (err: unknown) => err instanceof ParleyError && err.code === 'CONNECTION');
      assert.equal(requests, 1);
      await settledInWorkers(rt);
    });

    test('maxRetries 0: a reused socket closed before any response byte is still retried, at once', async () => {
      behaviour = 'drop-on-reuse';
      const rt = await runtime(0);
      for (let i = 0; i < 6; i++) assert.equal((await rt.chat({ ...ask, provider: 'p' })).content, 'whole');
      assert.equal(droppedOnReuse, 1, 'a reused socket was closed under a request');
      assert.equal(requests, 7);
    });
  });
}
