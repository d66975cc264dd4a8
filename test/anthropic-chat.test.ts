/**
 * Anthropic's Messages API end to end, request/response side: what the
 * server receives (headers, top-level system, default max_tokens), non-stream
 * chat, models(), health(), and the retryable statuses 529 and 429 with
 * retry-after honoured.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, ask, collect, rejectsWith } from './helpers/fixtures.ts';

const API_KEY = 'sk-ant-test-chat-0123456789abcdef';

function chatRequests(server: ModelServer) {
  return server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
}

async function anthropicRuntime(server: ModelServer, extra: Partial<RuntimeOptions> = {}): Promise<Runtime> {
  return createRuntime({
    providers: { claude: { kind: 'anthropic', baseUrl: server.url, apiKey: API_KEY } },
    ...TEST_RUNTIME_DEFAULTS,
    ...extra,
  });
}

describe('Anthropic chat(), models() and health()', () => {
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    server = await startModelServer();
    rt = await anthropicRuntime(server);
  });
  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  });

  test('chat() sends x-api-key, anthropic-version, a top-level system and a default max_tokens', async () => {
    const result = await rt.chat({
      model: 'parley-echo',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'hello claude' },
      ],
    });
    assert.equal(result.provider, 'claude');
    assert.equal(result.model, 'parley-echo');
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.rawFinishReason, 'end_turn');
    assert.match(result.content, /hello claude/);
    assert.ok(result.usage && (result.usage.inputTokens ?? 0) > 0 && (result.usage.outputTokens ?? 0) > 0);
    assert.equal(result.toolCalls, undefined);

    const sent = chatRequests(server).at(-1);
    assert.ok(sent, 'the server saw the request');
    assert.equal(sent.headers['x-api-key'], API_KEY);
    assert.equal(sent.headers['anthropic-version'], '2023-06-01');
    assert.equal(sent.headers.authorization, undefined, 'Anthropic authenticates with x-api-key, not a bearer token');
    const body = sent.body as { system?: unknown; messages: { role: string; content: unknown }[]; max_tokens?: unknown; stream?: unknown };
    assert.equal(body.system, 'You are terse.');
    assert.deepEqual(body.messages, [{ role: 'user', content: 'hello claude' }], 'the system prompt is not among the messages');
    assert.equal(typeof body.max_tokens, 'number');
    assert.ok((body.max_tokens as number) >= 1);
    assert.equal(body.stream, false);
  });

  test('chat() passes maxTokens as max_tokens and reports max_tokens as the finish reason', async () => {
    const result = await rt.chat(ask('a long question that deserves a long answer', { maxTokens: 3 }));
    assert.equal((chatRequests(server).at(-1)?.body as { max_tokens?: unknown }).max_tokens, 3);
    assert.equal(result.finishReason, 'length');
    assert.equal(result.rawFinishReason, 'max_tokens');
  });

  test('models() lists the server models through GET /v1/models with x-api-key', async () => {
    const models = await rt.models();
    assert.deepEqual(models.map((m) => m.id).sort(), ['parley-echo', 'parley-small']);
    assert.ok(models.every((m) => typeof m.created === 'number'), 'created_at becomes created (seconds)');
    const sent = server.requests.filter((r) => r.path === '/v1/models').at(-1);
    assert.ok(sent);
    assert.equal(sent.method, 'GET');
    assert.equal(sent.headers['x-api-key'], API_KEY);
    assert.equal(sent.headers['anthropic-version'], '2023-06-01');
  });

  test('health() reports ok with a latency', async () => {
    const report = await rt.health('claude');
    assert.equal(report.provider, 'claude');
    assert.equal(report.ok, true);
    assert.ok(Number.isFinite(report.latencyMs), 'a latency in ms');
    assert.equal(report.error, undefined);
  });
});

describe('Anthropic retryable statuses', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer();
  });
  after(async () => {
    await server.close();
  });

  test('529 with retry-after: 0 is retried and the call succeeds (2 requests)', async () => {
    const rt = await anthropicRuntime(server, { retryBaseMs: 1 });
    try {
      const before = chatRequests(server).length;
      server.injectFault({ kind: 'status', status: 529, retryAfter: '0', message: 'Overloaded' });
      const result = await rt.chat(ask('overloaded at first'));
      assert.match(result.content, /overloaded at first/);
      assert.equal(chatRequests(server).length - before, 2);
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
  });

  test('429 is retried after the retry-after the server asked for, not the (zero) backoff', async () => {
    // With retryBaseMs 0 the backoff is 0 ms: only retry-after can make the call wait
    // (retryMaxMs, which caps it, is raised past the test's retry-after).
    const rt = await anthropicRuntime(server, { retryBaseMs: 0, retryMaxMs: 120_000 });
    try {
      await rt.chat(ask('warm up'));
      // A 60 s retry-after is past the 10 s deadline: the call fails at once with
      // the 429, one request. A retry after the zero backoff would have succeeded.
      let before = chatRequests(server).length;
      server.injectFault({ kind: 'status', status: 429, retryAfter: '60', message: 'rate limited' });
      const err = await rejectsWith(rt.chat(ask('rate limited, no time to wait')), 'HTTP');
      assert.equal(err.status, 429);
      assert.equal(err.retryAfterMs, 60_000);
      assert.equal(chatRequests(server).length - before, 1);
      // With time for it, the retry waits the second and succeeds.
      before = chatRequests(server).length;
      server.injectFault({ kind: 'status', status: 429, retryAfter: '1', message: 'rate limited' });
      const { events, error } = await collect(rt.stream(ask('rate limited at first')));
      assert.equal(error, undefined);
      assert.equal(events.at(-1)?.type, 'done');
      assert.equal(chatRequests(server).length - before, 2);
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
  });

  test('with maxRetries 0, 529 is an HTTP error with status 529, retryable, carrying retryAfterMs', async () => {
    const rt = await anthropicRuntime(server, { maxRetries: 0 });
    try {
      const before = chatRequests(server).length;
      server.injectFault({ kind: 'status', status: 529, retryAfter: '2', message: 'Overloaded' });
      const err = await rejectsWith(rt.chat(ask('overloaded')), 'HTTP');
      assert.equal(err.status, 529);
      assert.equal(err.retryable, true);
      assert.equal(err.retryAfterMs, 2000);
      assert.equal(err.provider, 'claude');
      assert.match(err.message, /overloaded_error/);
      assert.ok(!err.message.includes(API_KEY));
      assert.equal(chatRequests(server).length - before, 1);

      server.injectFault({ kind: 'status', status: 429, message: 'slow down' });
      const limited = await rejectsWith(rt.chat(ask('rate limited')), 'HTTP');
      assert.equal(limited.status, 429);
      assert.equal(limited.retryable, true);
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
  });

  test('400 is not retryable and not retried', async () => {
    const rt = await anthropicRuntime(server, { retryBaseMs: 1 });
    try {
      const before = chatRequests(server).length;
      server.injectFault({ kind: 'status', status: 400, message: 'messages: bad' });
      const err = await rejectsWith(rt.chat(ask('bad request')), 'HTTP');
      assert.equal(err.status, 400);
      assert.equal(err.retryable, false);
      assert.equal(chatRequests(server).length - before, 1);
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
  });
});
