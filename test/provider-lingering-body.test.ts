/**
 * A body that outlives its end marker: the server sends the whole reply, end
 * marker included, then keeps the response open (a lingering gateway, SSE
 * comments after the end). The caller gets its reply at the marker; the
 * worker reads the tail briefly, then destroys the socket, so the call
 * leaves the worker and the origin's connection slot frees.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime, type StreamEvent } from '../src/index.ts';
import { waitFor } from './helpers/wait-for.ts';

const TEXT = ['Hello', ', ', 'world'];

/** Writes the reply of each protocol, end marker included, then lingers with `: ping` comments (or blank NDJSON lines). */
function route(req: IncomingMessage, res: ServerResponse, lingering: Set<ServerResponse>): void {
  req.resume();
  const linger = (keepAlive: string) => {
    lingering.add(res);
    const timer = setInterval(() => res.write(keepAlive), 20);
    res.on('close', () => {
      clearInterval(timer);
      lingering.delete(res);
    });
  };
  if (req.url === '/v1/chat/completions') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const content of TEXT) res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: { content } }] })}\n\n`);
    res.write(`data: ${JSON.stringify({ model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.write('data: [DONE]\n\n');
    return linger(': ping\n\n');
  }
  if (req.url === '/v1/messages') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (type: string, data: object) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event('message_start', { message: { model: 'm', usage: { input_tokens: 1, output_tokens: 0 } } });
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    for (const text of TEXT) event('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
    event('content_block_stop', { index: 0 });
    event('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 3 } });
    event('message_stop', {});
    return linger(': ping\n\n');
  }
  if (req.url === '/api/chat') {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    for (const content of TEXT) res.write(`${JSON.stringify({ model: 'm', message: { role: 'assistant', content }, done: false })}\n`);
    res.write(`${JSON.stringify({ model: 'm', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop' })}\n`);
    return linger('\n');
  }
  res.writeHead(404).end();
}

async function stream(rt: Runtime, provider: string): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of rt.stream({ provider, model: 'm', messages: [{ role: 'user', content: 'hi' }] })) events.push(event);
  return events;
}

for (const workers of [1, 2]) {
  describe(`a body that outlives its end marker (workers: ${workers})`, { timeout: 60_000 }, () => {
    let server: Server;
    let rt: Runtime;
    const sockets = new Set<Socket>();
    const lingering = new Set<ServerResponse>();

    before(async () => {
      server = createServer((req, res) => route(req, res, lingering));
      server.on('connection', (socket) => {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      rt = await createRuntime({
        workers,
        // One socket per origin: a call that kept its socket would starve every later one.
        connections: 1,
        timeoutMs: 5_000,
        heartbeatTimeoutMs: 10_000,
        providers: {
          openai: { kind: 'openai', baseUrl: `${base}/v1` },
          anthropic: { kind: 'anthropic', baseUrl: base, apiKey: 'test-key' },
          ollama: { kind: 'ollama', baseUrl: base },
        },
      });
    });

    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    for (const provider of ['openai', 'anthropic', 'ollama']) {
      test(`${provider}: every stream completes, and the lingering socket is destroyed after a bounded tail read`, async () => {
        // More streams than workers × connections: each one needs the slot the one before it held.
        for (let i = 0; i < 4; i++) {
          const events = await stream(rt, provider);
          const done = events.at(-1);
          assert.equal(done?.type, 'done');
          assert.equal(done.type === 'done' && done.result.content, TEXT.join(''));
        }
        await waitFor(
          async () => {
            const stats = await rt.stats();
            const own = stats.workers.flatMap((w) => w.providers.filter((p) => p.provider === provider));
            return stats.workers.every((w) => w.inFlight === 0) && own.every((p) => p.connected === 0 && p.running === 0 && p.pending === 0);
          },
          { what: `no call and no socket left in the workers for ${provider}`, timeoutMs: 5_000 },
        );
        await waitFor(() => lingering.size === 0 && sockets.size === 0, { what: 'the server sees every lingering response closed', timeoutMs: 5_000 });
      });
    }
  });
}
