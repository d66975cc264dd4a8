/**
 * The worker keeps every call's deadline as a backstop of its own: whatever
 * messages are lost (the host's cancel among them), no call outlives its
 * deadline in the worker by more than a sweep interval, and its socket goes
 * with it.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { ProviderService } from '../src/provider/provider-service.ts';
import { loadDispatcherClasses } from '../src/provider/http/undici-dispatchers.ts';
import type { ProviderConnectionStats, StreamToHost, HttpSettings } from '../src/shared/protocol.ts';

const SETTINGS: HttpSettings = {
  maxRetries: 0,
  retryBaseMs: 10,
  retryMaxMs: 100,
  maxResponseBytes: 1 << 20,
  connections: 4,
  connectTimeoutMs: 5_000,
  keepAliveTimeoutMs: 4_000,
  streamCredits: 4,
};

/**
 * No request running or queued, and every socket idle. (undici reconnects
 * after a request it aborted on a socket of its own, so an idle keep-alive
 * socket may remain: released to the pool, not held by a call.)
 */
const idle = (p: ProviderConnectionStats) => p.running === 0 && p.pending === 0 && p.connected === p.free;

const chatRequest = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };

describe('the worker-side deadline backstop', { timeout: 30_000 }, () => {
  let server: Server;
  let base: string;
  // Requests the server is still answering: a call that left the worker closed its socket.
  let open = 0;

  before(async () => {
    // As the worker entry does before it builds its ProviderService.
    await loadDispatcherClasses();
    // Chats never get their headers; streams get one token and then nothing.
    server = createServer((req, res) => {
      req.resume();
      open++;
      res.on('close', () => open--);
      if (req.url === '/v1/chat/completions' && req.headers.accept === 'text/event-stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: { content: 'a' } }] })}\n\n`);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  test('ProviderService: a chat and a stream whose cancel never comes end with TIMEOUT at their deadline, sockets released', async () => {
    const service = new ProviderService(1, { p: { kind: 'openai', baseUrl: `${base}/v1` } }, SETTINGS);
    try {
      const chat = service.chat({ callId: 1, deadlineAt: Date.now() + 200 }, 'p', chatRequest);
      const { port1, port2 } = new MessageChannel();
      const ended = new Promise<StreamToHost>((resolve) => {
        port1.on('message', (msg: StreamToHost) => {
          if (msg.type !== 'events') resolve(msg);
        });
      });
      const stream = service.streamToEnd({ callId: 2, deadlineAt: Date.now() + 300 }, 'p', chatRequest, port2);
      await assert.rejects(chat, (err: unknown) => err instanceof ParleyError && err.code === 'TIMEOUT');
      const last = await ended;
      assert.equal(last.type, 'error');
      assert.equal(last.type === 'error' && last.error.code, 'TIMEOUT');
      await stream;
      port1.close();
      const stats = await service.stats();
      assert.equal(stats.inFlight, 0);
      await waitFor(async () => idle((await service.stats()).providers[0]!), { what: 'the agent has no request left' });
      await waitFor(() => open === 0, { what: 'the server sees both requests closed' });
    } finally {
      await service.close();
    }
  });

  for (const workers of [1, 2]) {
    test(`runtime (workers: ${workers}): chats sent while the threads start leave the workers at their deadline`, async () => {
      const rt = await createRuntime({
        workers,
        timeoutMs: 10_000,
        heartbeatTimeoutMs: 10_000,
        providers: { p: { kind: 'openai', baseUrl: `${base}/v1` } },
      });
      try {
        const chats = Array.from({ length: 10 }, (_, i) => rt.chat({ ...chatRequest, provider: 'p' }, { timeoutMs: 30 + i * 10 }));
        // Every outcome is held at once: a later chat may time out before an earlier one is looked at.
        for (const outcome of await Promise.allSettled(chats)) {
          assert.equal(outcome.status, 'rejected');
          assert.ok(outcome.reason instanceof ParleyError && outcome.reason.code === 'TIMEOUT', String(outcome.reason));
        }
        await waitFor(
          async () => {
            const stats = await rt.stats();
            return stats.workers.length === workers && stats.workers.every((w) => w.inFlight === 0 && w.providers.every(idle));
          },
          { what: 'no call and no socket left in any worker', timeoutMs: 5_000 },
        );
        await waitFor(() => open === 0, { what: 'the server sees every request closed', timeoutMs: 5_000 });
      } finally {
        await rt.shutdown({ graceMs: 500 });
      }
    });
  }
});
