/**
 * 1xx informational responses (102 Processing, 103 Early Hints from a CDN)
 * before the real answer are skipped: the reply that follows counts.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime, type StreamEvent } from '../src/index.ts';

const ask = { provider: 'p', model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };

for (const workers of [1, 2]) {
  describe(`1xx informational responses (workers: ${workers})`, { timeout: 60_000 }, () => {
    let server: Server;
    let rt: Runtime;

    before(async () => {
      server = createServer((req, res) => {
        req.resume();
        res.writeProcessing();
        res.writeEarlyHints({ link: '</app.css>; rel=preload; as=style' });
        if (req.url === '/v1/models') {
          res.writeHead(200, { 'content-type': 'application/json' });
          return void res.end(JSON.stringify({ data: [{ id: 'm' }] }));
        }
        if (req.url?.startsWith('/v1/broken/')) return void res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"message":"down"}}');
        if (req.headers.accept === 'text/event-stream') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: { content: 'streamed' }, finish_reason: 'stop' }] })}\n\n`);
          return void res.end('data: [DONE]\n\n');
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'answered' }, finish_reason: 'stop' }] }));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      rt = await createRuntime({
        workers,
        timeoutMs: 10_000,
        heartbeatTimeoutMs: 10_000,
        maxRetries: 0,
        providers: { p: { kind: 'openai', baseUrl: `${base}/v1` }, broken: { kind: 'openai', baseUrl: `${base}/v1/broken` } },
      });
    });

    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('chat, stream, models and health read the final answer', async () => {
      assert.equal((await rt.chat(ask)).content, 'answered');
      const events: StreamEvent[] = [];
      for await (const event of rt.stream(ask)) events.push(event);
      const done = events.at(-1);
      assert.equal(done?.type === 'done' && done.result.content, 'streamed');
      assert.deepEqual((await rt.models('p')).map((m) => m.id), ['m']);
      assert.equal((await rt.health('p')).ok, true);
    });

    test('an error status after a 1xx keeps its own status', async () => {
      await assert.rejects(rt.chat({ ...ask, provider: 'broken' }), (err: unknown) => err instanceof ParleyError && err.code === 'HTTP' && err.status === 503);
    });
  });
}
