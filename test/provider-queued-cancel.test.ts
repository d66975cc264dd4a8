/**
 * A call that waits for a socket (the origin at its `connections` limit) and
 * is then cancelled (deadline or abort) leaves the worker at once, and when
 * a socket frees it does not destroy that healthy keep-alive socket.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';

const reply = JSON.stringify({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] });
const ask = (content: string) => ({ provider: 'p', model: 'm', messages: [{ role: 'user' as const, content }] });

for (const workers of [1, 2]) {
  describe(`calls cancelled while queued for a socket (workers: ${workers})`, { timeout: 60_000 }, () => {
    let server: Server;
    let rt: Runtime;
    let connectionsOpened = 0;
    // Requests whose content is "hold" wait here until the test lets them go.
    const held: ServerResponse[] = [];

    before(async () => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          if (Buffer.concat(chunks).toString().includes('"hold"')) held.push(res);
          else res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
        });
      });
      server.on('connection', () => connectionsOpened++);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      rt = await createRuntime({
        workers,
        connections: 1,
        maxRetries: 0,
        timeoutMs: 10_000,
        heartbeatTimeoutMs: 10_000,
        keepAliveTimeoutMs: 60_000,
        providers: { p: { kind: 'openai', baseUrl: `${base}/v1` } },
      });
    });

    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('queued calls leave at their deadline or abort, and the busy sockets survive them', async () => {
      // Open one socket per worker, kept alive.
      await Promise.all(Array.from({ length: workers * 2 }, () => rt.chat(ask('warm'))));
      const opened = connectionsOpened;

      // Every worker's one socket is held by a call; the rest queue behind them.
      const holders = Array.from({ length: workers }, () => rt.chat(ask('hold')));
      await waitFor(() => held.length === workers, { what: 'every socket busy with a held call' });
      const controller = new AbortController();
      // Each outcome is taken at once: a deadline may pass while the test still waits below.
      const outcome = (call: Promise<unknown>) => call.then(() => 'resolved', (err: unknown) => (err instanceof ParleyError ? err.code : String(err)));
      const timedOut = Array.from({ length: 3 }, () => outcome(rt.chat(ask('queued'), { timeoutMs: 1_000 })));
      const aborted = Array.from({ length: 3 }, () => outcome(rt.chat(ask('queued'), { signal: controller.signal })));
      await waitFor(async () => (await rt.stats()).workers.reduce((sum, w) => sum + w.inFlight, 0) === workers + 6, {
        what: 'the queued calls reached the workers',
      });
      controller.abort();
      assert.deepEqual(await Promise.all(aborted), ['ABORTED', 'ABORTED', 'ABORTED']);
      assert.deepEqual(await Promise.all(timedOut), ['TIMEOUT', 'TIMEOUT', 'TIMEOUT']);

      // Only the holders are left in the workers, while their sockets are still busy.
      await waitFor(async () => (await rt.stats()).workers.reduce((sum, w) => sum + w.inFlight, 0) === workers, {
        what: 'only the held calls in flight',
      });
      // And nothing of theirs waits for a socket anywhere (parley's gate or
      // undici's queue): their requests and bodies are gone, not parked
      // until a socket frees.
      const pending = (await rt.stats()).workers.flatMap((w) => w.providers).reduce((sum, p) => sum + p.pending, 0);
      assert.equal(pending, 0, 'no request of a cancelled call still waits for a socket');
      const running = (await rt.stats()).workers.flatMap((w) => w.providers).reduce((sum, p) => sum + p.running, 0);
      assert.equal(running, workers, 'only the held calls hold sockets');

      for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
      for (const call of holders) assert.equal((await call).content, 'ok');
      for (let i = 0; i < workers * 2; i++) assert.equal((await rt.chat(ask('after'))).content, 'ok');
      assert.equal(connectionsOpened, opened, 'no socket was destroyed and reopened');
      const stats = await rt.stats();
      assert.ok(stats.workers.every((w) => w.inFlight === 0 && w.providers.every((p) => p.running === 0 && p.pending === 0)));
    });
  });
}
