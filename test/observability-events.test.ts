import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { createRuntime, type CallEndEvent, type CallStartEvent, type Runtime } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { ask, collect, providersFor, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';

const SECRET = 'sk-obs-events-0123456789abcdef';

/** Records every call event of `rt`. */
function record(rt: Runtime): { starts: CallStartEvent[]; ends: CallEndEvent[] } {
  const starts: CallStartEvent[] = [];
  const ends: CallEndEvent[] = [];
  rt.on('call-start', (e) => starts.push(e));
  rt.on('call-end', (e) => ends.push(e));
  return { starts, ends };
}

/** An OpenAI-compatible server that answers every chat with a request id that echoes the API key. */
async function requestIdServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const auth = String(req.headers.authorization ?? '');
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req-1 ${auth}` });
      res.end(JSON.stringify({ model: 'served-model', choices: [{ message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 1 } }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  return { url: `http://127.0.0.1:${address.port}/v1`, server };
}

for (const workers of [1, 2]) {
  describe(`call events (workers: ${workers})`, () => {
    test('chat, stream, models and health each emit one call-start and one call-end with what the call did', async () => {
      const server = await startModelServer();
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, providers: providersFor(server) });
      try {
        const { starts, ends } = record(rt);
        const result = await rt.chat(ask('hello'));
        const { events } = await collect(rt.stream(ask('stream me', { provider: 'openai' })));
        await rt.models('ollama');
        await rt.health('openai');
        await waitFor(() => ends.length === 4);
        assert.deepEqual(starts.map((e) => e.kind), ['chat', 'stream', 'models', 'health']);
        assert.deepEqual(ends.map((e) => e.kind), ['chat', 'stream', 'models', 'health']);
        assert.deepEqual(ends.map((e) => e.callId), starts.map((e) => e.callId));
        const [chat, stream, models, health] = ends as [CallEndEvent, CallEndEvent, CallEndEvent, CallEndEvent];
        assert.equal(chat.ok, true);
        assert.equal(chat.provider, 'ollama');
        assert.deepEqual(chat.providers, ['ollama']);
        assert.equal(chat.model, 'parley-echo');
        assert.equal(chat.responseModel, result.model);
        assert.equal(chat.finishReason, result.finishReason);
        assert.deepEqual(chat.usage, result.usage);
        assert.equal(chat.attempts, 1);
        assert.deepEqual(chat.retries, []);
        assert.equal(chat.ttftMs, undefined);
        assert.ok(chat.durationMs > 0);
        const done = events.at(-1);
        assert.ok(done?.type === 'done');
        assert.equal(stream.ok, true);
        assert.equal(stream.provider, 'openai');
        assert.equal(stream.finishReason, done.result.finishReason);
        assert.ok(stream.ttftMs !== undefined && stream.ttftMs > 0 && stream.ttftMs <= stream.durationMs);
        assert.equal(models.provider, 'ollama');
        assert.equal(health.provider, 'openai');
        assert.equal(health.ok, true);
        // The report the worker sent is not part of the result the caller gets.
        assert.equal('report' in result, false);
      } finally {
        await rt.shutdown({ graceMs: 500 });
        await server.close();
      }
    });

    test('retries with their reasons, fallbacks in order, and the error code of a failed call', async () => {
      const server = await startModelServer();
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, retryBaseMs: 1, providers: providersFor(server) });
      try {
        const { ends } = record(rt);
        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 10 });
        await rt.chat(ask('retry me', { provider: 'openai' }));
        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 10 });
        await collect(rt.stream(ask('retry my stream', { provider: 'openai' })));
        await waitFor(() => ends.length === 2);
        for (const end of ends) {
          assert.equal(end.ok, true);
          assert.equal(end.attempts, 2);
          assert.equal(end.retries.length, 1);
          assert.equal(end.retries[0]!.code, 'HTTP');
          assert.equal(end.retries[0]!.status, 503);
          assert.equal(end.retries[0]!.provider, 'openai');
        }

        // Three 503s exhaust the first provider's retries; the call falls back.
        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 }, 3);
        const fallback = await rt.chat(ask('fall back', { provider: ['openai', 'ollama'] }));
        await waitFor(() => ends.length === 3);
        const fell = ends[2]!;
        assert.equal(fell.ok, true);
        assert.deepEqual(fell.providers, ['openai', 'ollama']);
        assert.deepEqual(fell.fallbacks, [{ provider: 'openai', code: 'HTTP' }]);
        assert.equal(fell.provider, 'ollama');
        assert.equal(fell.attempts, 4);
        assert.equal(fell.responseModel, fallback.model);

        server.injectFault({ kind: 'status', status: 400 });
        await rejectsWith(rt.chat(ask('fail')), 'HTTP');
        await waitFor(() => ends.length === 4);
        assert.equal(ends[3]!.ok, false);
        assert.equal(ends[3]!.errorCode, 'HTTP');
        assert.equal(ends[3]!.attempts, 1);

        const aborted = new AbortController();
        aborted.abort();
        await rejectsWith(rt.chat(ask('never'), { signal: aborted.signal }), 'ABORTED');
        await waitFor(() => ends.length === 5);
        assert.equal(ends[4]!.errorCode, 'ABORTED');
        assert.equal(ends[4]!.attempts, 0);
      } finally {
        await rt.shutdown({ graceMs: 500 });
        await server.close();
      }
    });

    test("the provider's request id is carried, redacted", async () => {
      const { url, server } = await requestIdServer();
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, providers: { echo: { kind: 'openai', baseUrl: url, apiKey: SECRET } } });
      try {
        const { ends } = record(rt);
        const result = await rt.chat(ask('id?'));
        await waitFor(() => ends.length === 1);
        const end = ends[0]!;
        assert.ok(end.requestId?.startsWith('req-1'));
        assert.equal(JSON.stringify(end).includes(SECRET), false);
        assert.deepEqual(end.usage, result.usage);
        assert.equal(end.responseModel, 'served-model');
      } finally {
        await rt.shutdown({ graceMs: 500 });
        server.close();
      }
    });
  });
}

test('listeners switch observation on and off', async () => {
  const server = await startModelServer();
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providersFor(server) });
  try {
    const ends: CallEndEvent[] = [];
    const listener = (e: CallEndEvent) => ends.push(e);
    rt.on('call-end', listener);
    await rt.chat(ask('seen'));
    rt.off('call-end', listener);
    await rt.chat(ask('not seen'));
    rt.on('call-end', listener);
    await rt.chat(ask('seen again'));
    // call-end is emitted before the caller's promise resolves: the count is exact here.
    assert.equal(ends.length, 2);
  } finally {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  }
});
