import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { ParleyError } from '../src/shared/errors.ts';
import { waitFor } from './helpers/wait-for.ts';
import type { HttpSettings } from '../src/shared/protocol.ts';
import { createAdapter } from '../src/provider/protocols/adapters.ts';
import { CallSignal } from '../src/provider/call-signal.ts';
import type { CallContext } from '../src/provider/http/retries.ts';
import { bufferSink, discardSink, exchange } from '../src/provider/http/exchange.ts';

/**
 * A plain HTTP server on loopback whose routes write bodies of a given size
 * and record whether each response was read to its end or cut off.
 */
interface Served {
  path: string;
  /** The response is over, one way or the other: written to its end, or cut. */
  closed: boolean;
  /** True when the client went away before the whole body was written. */
  cut: boolean;
  /** The socket is full and the server waits for 'drain': the client stopped reading. */
  blocked: boolean;
}

const MB = 1024 * 1024;
let server: Server;
let base: string;
const served: Served[] = [];

function writeBody(res: ServerResponse, bytes: number, record: Served): void {
  const chunk = Buffer.alloc(16 * 1024, 'x');
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        record.blocked = true;
        return void res.once('drain', pump);
      }
      record.blocked = false;
    }
    res.end();
  };
  res.once('close', () => {
    if (!res.writableFinished) record.cut = true;
    record.closed = true;
  });
  pump();
}

function route(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const record: Served = { path: url.pathname, closed: false, cut: false, blocked: false };
  served.push(record);
  req.resume();
  const size = Number(url.searchParams.get('bytes') ?? '0');
  switch (url.pathname) {
    case '/ok':
      res.writeHead(200, { 'content-type': 'application/json' });
      return writeBody(res, size, record);
    case '/json':
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ hello: 'world' }));
    case '/limited':
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '7', 'x-request-id': 'req_123' });
      return void res.end(JSON.stringify({ error: { message: 'slow down please' } }));
    case '/huge-error':
      res.writeHead(500, { 'content-type': 'text/plain' });
      return writeBody(res, size, record);
    default:
      res.writeHead(404).end();
  }
}

function context(signal = new CallSignal()): CallContext {
  return {
    provider: 'local',
    adapter: createAdapter({ name: 'local', config: { kind: 'openai', baseUrl: base } }),
    agent: new Agent({ connections: 4 }),
    settings: { maxRetries: 0, retryBaseMs: 10, retryMaxMs: 100, maxResponseBytes: MB } as HttpSettings,
    signal,
    deadlineAt: Date.now() + 10_000,
  };
}

const get = (path: string) => ({ method: 'GET' as const, url: `${base}${path}`, headers: {} });
const lastServed = () => served[served.length - 1]!;

/** The last response is over (written to its end or cut): returns its record. */
async function lastClosed(): Promise<Served> {
  const record = lastServed();
  await waitFor(() => record.closed, { what: `the response to ${record.path} closed` });
  return record;
}

/** undici's per-origin figures for the one origin this suite talks to. */
function poolStats(agent: Agent): { connected: number; free: number; running: number } {
  const stats = (agent as unknown as { stats: Record<string, { connected: number; free: number; running: number }> }).stats;
  return Object.values(stats)[0]!;
}

describe('exchange (undici dispatch handler)', () => {
  before(async () => {
    server = createServer(route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('collects a 2xx body, and the connection is kept for the next request', async () => {
    const ctx = context();
    try {
      const body = await exchange(ctx, get('/json'), bufferSink(MB, 'local'));
      assert.deepEqual(JSON.parse(body.toString('utf8')), { hello: 'world' });
      // undici opens a second socket for a request sent before the first one's socket is back in its pool.
      await waitFor(() => poolStats(ctx.agent as Agent).free === 1, { what: 'the socket back in the pool' });
      const big = await exchange(ctx, get('/ok?bytes=300000'), bufferSink(MB, 'local'));
      assert.equal(big.length, 300_000);
      assert.equal(poolStats(ctx.agent as Agent).connected, 1, 'one keep-alive socket served both');
    } finally {
      await ctx.agent.close();
    }
  });

  it('a body past the cap fails TOO_LARGE and the rest of it is cancelled', async () => {
    const ctx = context();
    try {
      await assert.rejects(exchange(ctx, get('/ok?bytes=8000000'), bufferSink(100_000, 'local')), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'TOO_LARGE');
        return true;
      });
      assert.equal((await lastClosed()).cut, true, 'the server saw the client go before the body ended');
    } finally {
      await ctx.agent.destroy();
    }
  });

  it('a non-2xx answer is an HTTP error with the provider’s message, Retry-After and request id', async () => {
    const ctx = context();
    try {
      await assert.rejects(exchange(ctx, get('/limited'), bufferSink(MB, 'local')), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'HTTP');
        assert.equal(err.status, 429);
        assert.equal(err.retryable, true);
        assert.equal(err.retryAfterMs, 7_000);
        assert.equal(err.requestId, 'req_123');
        assert.match(err.message, /slow down please/);
        return true;
      });
    } finally {
      await ctx.agent.close();
    }
  });

  it('an error body is read only as far as it is useful; the rest is cancelled', async () => {
    const ctx = context();
    try {
      await assert.rejects(exchange(ctx, get('/huge-error?bytes=8000000'), bufferSink(MB, 'local')), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'HTTP');
        assert.equal(err.status, 500);
        assert.ok(err.message.length < 70_000, `message of ${err.message.length} chars`);
        return true;
      });
      assert.equal((await lastClosed()).cut, true);
    } finally {
      await ctx.agent.destroy();
    }
  });

  it('discardSink resolves on a 2xx without reading a long body to its end', async () => {
    const ctx = context();
    try {
      await exchange(ctx, get('/ok?bytes=8000000'), discardSink(128 * 1024));
      assert.equal((await lastClosed()).cut, true);
      // A short body is read to its end and its socket kept.
      await exchange(ctx, get('/ok?bytes=1000'), discardSink(128 * 1024));
      assert.equal((await lastClosed()).cut, false);
    } finally {
      await ctx.agent.destroy();
    }
  });

  it('a sink’s pending promise pauses the body: no chunk arrives until it settles', async () => {
    const ctx = context();
    let chunks = 0;
    let release!: () => void;
    let paused = false;
    try {
      // Far more than the socket buffers hold, so a paused reader blocks the server.
      const done = exchange(ctx, get('/ok?bytes=64000000'), {
        data() {
          assert.equal(paused, false, 'a chunk arrived while the sink had asked to pause');
          chunks++;
          if (chunks === 2) {
            paused = true;
            return new Promise<void>((resolve) => {
              release = () => {
                paused = false;
                resolve();
              };
            });
          }
        },
        end: () => chunks,
      });
      // The server stuck waiting for 'drain' shows the reader stopped; the sink's
      // own check fails the test if a chunk came through meanwhile.
      await waitFor(() => paused && lastServed().blocked, { what: 'the server blocked by the paused reader' });
      assert.equal(chunks, 2);
      release();
      assert.ok((await done) > 2);
    } finally {
      await ctx.agent.destroy();
    }
  });

  it('the call’s abort stops the request with the abort reason, and a sink that throws fails with its error', async () => {
    const signal = new CallSignal();
    const ctx = context(signal);
    try {
      const reason = new ParleyError('ABORTED', 'caller left');
      const pending = exchange(ctx, get('/ok?bytes=8000000'), {
        data() {
          signal.abort(reason);
          return new Promise<void>(() => undefined);
        },
        end: () => undefined,
      });
      await assert.rejects(pending, (err) => err === reason);
      await assert.rejects(exchange(ctx, get('/json'), bufferSink(MB, 'local')), (err) => err === reason, 'an aborted signal is not sent');
      const ctx2 = context();
      const bad = new ParleyError('BAD_RESPONSE', 'cannot read this');
      await assert.rejects(
        exchange(ctx2, get('/json'), {
          data() {
            throw bad;
          },
          end: () => undefined,
        }),
        (err) => err === bad,
      );
      await ctx2.agent.destroy();
    } finally {
      await ctx.agent.destroy();
    }
  });
});
