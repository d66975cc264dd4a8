import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startModelServer, type Fault, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';

const fault = (f: Fault) => ({ 'x-parley-fault': JSON.stringify(f) });
const userMessages = [{ role: 'user' as const, content: 'Explain fault injection briefly' }];

describe('model server faults, as the official clients see them', () => {
  let server: ModelServer;
  let openai: OpenAI;
  let anthropic: Anthropic;
  before(async () => {
    server = await startModelServer();
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test', maxRetries: 0, logLevel: 'off' });
    anthropic = new Anthropic({ baseURL: server.url, apiKey: 'test', maxRetries: 0, logLevel: 'off' });
  });
  afterEach(() => server.setFault(undefined));
  after(() => server.close());

  const ollamaWith = (f: Fault) => new Ollama({ host: server.url, headers: fault(f) });
  const chatBody = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ model: 'parley-echo', messages: userMessages, ...extra });
  const post = (path: string, body: string, f?: Fault, signal?: AbortSignal) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(f ? fault(f) : {}) }, body, signal: signal ?? null });

  test("'status': OpenAI sees RateLimitError with Retry-After and retry-after-ms", async () => {
    server.setFault({ kind: 'status', status: 429, retryAfter: '2', retryAfterMs: 1500, message: 'slow down' });
    await assert.rejects(openai.chat.completions.create({ model: 'parley-echo', messages: userMessages }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError);
      assert.equal(err.status, 429);
      assert.equal(err.headers?.get('retry-after'), '2');
      assert.equal(err.headers?.get('retry-after-ms'), '1500');
      assert.match(err.message, /slow down/);
      return true;
    });
  });

  test("'status': Anthropic sees overloaded_error for 529; Ollama sees ResponseError with the status", async () => {
    server.setFault({ kind: 'status', status: 529 });
    await assert.rejects(anthropic.messages.create({ model: 'parley-echo', max_tokens: 50, messages: userMessages }), (err: unknown) => {
      assert.ok(err instanceof Anthropic.APIError);
      assert.equal(err.status, 529);
      assert.equal((err.error as { error: { type: string } }).error.type, 'overloaded_error');
      return true;
    });
    server.setFault({ kind: 'status', status: 503, message: 'loading model' });
    await assert.rejects(new Ollama({ host: server.url }).chat({ model: 'parley-echo', messages: userMessages }), (err: unknown) => {
      const e = err as { name: string; status_code: number; error: string };
      return e.name === 'ResponseError' && e.status_code === 503 && e.error === 'loading model';
    });
  });

  test("'stream-error': each SDK throws the in-stream error after the first tokens", async () => {
    const f: Fault = { kind: 'stream-error', afterTokens: 2, message: 'model crashed' };
    let text = '';
    await assert.rejects(async () => {
      const stream = await openai.chat.completions.create({ model: 'parley-echo', messages: userMessages, stream: true }, { headers: fault(f) });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    }, (err: unknown) => err instanceof OpenAI.APIError && /model crashed/.test(err.message));
    assert.equal(text.split(' ').length, 2);

    await assert.rejects(async () => {
      for await (const _ of await anthropic.messages.create({ model: 'parley-echo', max_tokens: 50, messages: userMessages, stream: true }, { headers: fault(f) }));
    }, (err: unknown) => err instanceof Anthropic.APIError && /model crashed/.test(err.message));

    await assert.rejects(async () => {
      for await (const _ of await ollamaWith(f).chat({ model: 'parley-echo', messages: userMessages, stream: true }));
    }, /model crashed/);
  });

  test("'stream-error' without streaming: a 200 body that carries the protocol's error", async () => {
    const res = await post('/api/chat', chatBody({ stream: false }), { kind: 'stream-error', message: 'out of memory' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { error: 'out of memory' });
  });

  test("'reset': the stream breaks with a connection error after the first tokens", async () => {
    const f: Fault = { kind: 'reset', afterTokens: 3 };
    const open = server.stats().connectionsOpen;
    let text = '';
    await assert.rejects(async () => {
      const stream = await openai.chat.completions.create({ model: 'parley-echo', messages: userMessages, stream: true }, { headers: fault(f) });
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    });
    assert.equal(text.split(' ').length, 3);
    await assert.rejects(openai.chat.completions.create({ model: 'parley-echo', messages: userMessages }, { headers: fault(f) }));
    await waitFor(() => server.stats().connectionsOpen <= open, { what: 'reset sockets closed' });
  });

  test("'truncate': the body ends cleanly without [DONE] / message_stop / done:true", async () => {
    const f: Fault = { kind: 'truncate', afterTokens: 4 };
    const sse = await (await post('/v1/chat/completions', chatBody({ stream: true }), f)).text();
    assert.equal(sse.match(/"content":/g)?.length, 5, 'the role chunk and 4 tokens');
    assert.doesNotMatch(sse, /\[DONE\]|finish_reason":"stop/);

    const events = await (await post('/v1/messages', chatBody({ stream: true, max_tokens: 50 }), f)).text();
    assert.match(events, /text_delta/);
    assert.doesNotMatch(events, /message_stop|message_delta/);

    await assert.rejects(async () => {
      for await (const _ of await ollamaWith(f).chat({ model: 'parley-echo', messages: userMessages, stream: true }));
    }, /Did not receive done/);

    const half = await (await post('/v1/chat/completions', chatBody(), f)).text();
    assert.throws(() => JSON.parse(half), SyntaxError);
  });

  test("'malformed': the SDKs fail to parse the broken chunk or body", async () => {
    const f: Fault = { kind: 'malformed', afterTokens: 1 };
    await assert.rejects(async () => {
      for await (const _ of await openai.chat.completions.create({ model: 'parley-echo', messages: userMessages, stream: true }, { headers: fault(f) }));
    }, SyntaxError);
    await assert.rejects(async () => {
      for await (const _ of await anthropic.messages.create({ model: 'parley-echo', max_tokens: 50, messages: userMessages, stream: true }, { headers: fault(f) }));
    }, SyntaxError);
    await assert.rejects(openai.chat.completions.create({ model: 'parley-echo', messages: userMessages }, { headers: fault(f) }));

    // Ollama's NDJSON: exactly one line is broken and the stream still ends with done:true.
    const lines = (await (await post('/api/chat', chatBody(), f)).text()).trim().split('\n');
    const broken = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    assert.equal(broken.length, 1);
    assert.equal(JSON.parse(lines.at(-1)!).done, true);
  });

  test("'stall' with commentEveryMs keeps sending SSE comments and never finishes; the socket is released on abort", async () => {
    const open = server.stats().connectionsOpen;
    const ac = new AbortController();
    const res = await post('/v1/chat/completions', chatBody({ stream: true }), { kind: 'stall', afterTokens: 1, commentEveryMs: 5 }, ac.signal);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = '';
    while ((seen.match(/: keep-alive/g)?.length ?? 0) < 3) seen += decoder.decode((await reader.read()).value);
    assert.equal(seen.match(/"content":/g)?.length, 2, 'the role chunk and 1 token');
    assert.doesNotMatch(seen, /\[DONE\]/);
    ac.abort();
    // Other clients' idle keep-alive sockets may stay open; the stalled one must not.
    await waitFor(() => server.stats().connectionsOpen <= open, { what: 'stalled socket released' });
  });

  test("'stall' on Ollama sends nothing more after the first tokens", async () => {
    const open = server.stats().connectionsOpen;
    const ac = new AbortController();
    const res = await post('/api/chat', chatBody(), { kind: 'stall', afterTokens: 2 }, ac.signal);
    const reader = res.body!.getReader();
    let text = '';
    while (text.split('\n').length < 3) text += new TextDecoder().decode((await reader.read()).value);
    // The stall is the absence of bytes. With no token delay, a server that
    // kept writing would write the rest in the turns it takes to answer a
    // whole other request: one answered in full, and still nothing here.
    let arrived = false;
    const next = reader.read().then(
      () => (arrived = true),
      () => undefined,
    );
    const other = await post('/api/chat', chatBody({ stream: false }));
    assert.equal(other.status, 200);
    await other.text();
    assert.equal(arrived, false, 'bytes arrived after the stall');
    ac.abort();
    await next;
    // Other clients' idle keep-alive sockets may stay open; the stalled one must not.
    await waitFor(() => server.stats().connectionsOpen <= open, { what: 'stalled socket released' });
  });

  test("'slow-headers' delays the status line", async () => {
    const started = performance.now();
    const res = await post('/v1/chat/completions', chatBody(), { kind: 'slow-headers', delayMs: 120 });
    assert.ok(performance.now() - started >= 110, 'headers waited');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { object: string }).object, 'chat.completion');
  });

  test("'oversized' sends a valid body of at least the given size, streamed or not", async () => {
    const f: Fault = { kind: 'oversized', bytes: 300_000 };
    const res = await openai.chat.completions.create({ model: 'parley-echo', messages: userMessages }, { headers: fault(f) });
    assert.ok(Buffer.byteLength(res.choices[0]!.message.content!) >= 300_000);
    let bytes = 0;
    for await (const part of await ollamaWith(f).chat({ model: 'parley-echo', messages: userMessages, stream: true })) {
      bytes += Buffer.byteLength(part.message.content);
    }
    assert.ok(bytes >= 300_000);
  });

  test('injectFault() hits only the next N chat requests; the header wins over setFault()', async () => {
    server.injectFault({ kind: 'status', status: 500 }, 2);
    const ask = () => openai.chat.completions.create({ model: 'parley-echo', messages: userMessages });
    await assert.rejects(ask(), OpenAI.InternalServerError);
    await openai.models.list(); // not a chat request: consumes nothing
    await assert.rejects(ask(), OpenAI.InternalServerError);
    assert.equal((await ask()).choices[0]!.finish_reason, 'stop');

    server.setFault({ kind: 'status', status: 503 });
    await assert.rejects(ask(), (err: unknown) => err instanceof OpenAI.APIError && err.status === 503);
    await assert.rejects(
      openai.chat.completions.create({ model: 'parley-echo', messages: userMessages }, { headers: fault({ kind: 'status', status: 418 }) }),
      (err: unknown) => err instanceof OpenAI.APIError && err.status === 418,
    );
  });

  test('an invalid x-parley-fault header is a 400 that names the header; invalid faults throw a TypeError', async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'x-parley-fault': '{"kind":"explode"}' },
      body: chatBody(),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /x-parley-fault\.kind must be one of/);
    assert.throws(() => server.setFault({ kind: 'status', status: 200 }), /setFault\(fault\)\.status must be an HTTP error status/);
    assert.throws(() => server.injectFault({ kind: 'stall' }, 0), /times must be an integer >= 1/);
  });
});
