/**
 * Anthropic's Messages API end to end: real runtime, real worker, real
 * loopback HTTP to the embedded server speaking /v1/messages. Streams: the
 * event sequence becomes text / reasoning / done, and each way a stream can
 * go wrong has its own code.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, ask, collect, textOf } from './helpers/fixtures.ts';

const API_KEY = 'sk-ant-test-stream-0123456789abcdef';

function chatRequests(server: ModelServer) {
  return server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');
}

describe('Anthropic stream()', () => {
  let server: ModelServer;
  let thinking: ModelServer;
  let rt: Runtime;
  before(async () => {
    server = await startModelServer();
    thinking = await startModelServer({ reasoning: true });
    rt = await createRuntime({
      providers: {
        claude: { kind: 'anthropic', baseUrl: server.url, apiKey: API_KEY },
        thinker: { kind: 'anthropic', baseUrl: thinking.url, apiKey: API_KEY },
      },
      ...TEST_RUNTIME_DEFAULTS,
      retryBaseMs: 1,
    });
  });
  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
    await thinking.close();
  });

  test('stream() text events concatenate to result.content; done has end_turn and usage', async () => {
    const { events, error } = await collect(rt.stream(ask('stream from claude please', { provider: 'claude' })));
    assert.equal(error, undefined);
    const last = events.at(-1);
    assert.ok(last && last.type === 'done', 'the last event is done');
    assert.equal(events.filter((e) => e.type === 'done').length, 1);
    assert.ok(events.filter((e) => e.type === 'text').length > 1, 'text arrives in several events');
    assert.ok(events.every((e) => e.type === 'text' || e.type === 'done'), 'no reasoning or tool events without asking');
    const { result } = last;
    assert.equal(textOf(events), result.content);
    assert.match(result.content, /stream from claude please/);
    assert.equal(result.finishReason, 'stop');
    assert.equal(result.rawFinishReason, 'end_turn');
    assert.equal(result.provider, 'claude');
    assert.equal(result.model, 'parley-echo');
    assert.ok(result.usage, 'usage is reported');
    assert.ok((result.usage.inputTokens ?? 0) > 0, 'input tokens from message_start');
    assert.ok((result.usage.outputTokens ?? 0) > 1, 'output tokens from message_delta replace the initial 1');

    const sent = chatRequests(server).at(-1);
    assert.ok(sent);
    assert.equal((sent.body as { stream?: unknown }).stream, true);
    assert.equal(sent.headers.accept, 'text/event-stream');
  });

  test('stream() with reasoning: thinking deltas become reasoning events, before the text', async () => {
    const { events, error } = await collect(rt.stream(ask('think before you answer', { provider: 'thinker' })));
    assert.equal(error, undefined);
    const last = events.at(-1);
    assert.ok(last && last.type === 'done');
    const thought = events.map((e) => (e.type === 'reasoning' ? e.text : '')).join('');
    assert.ok(thought.length > 0, 'reasoning events arrive');
    assert.equal(last.result.reasoning, thought);
    assert.equal(textOf(events), last.result.content);
    assert.ok(!last.result.content.includes(thought), 'reasoning is kept out of the content');
    assert.ok(events.findLastIndex((e) => e.type === 'reasoning') < events.findIndex((e) => e.type === 'text'));
    assert.equal(last.result.finishReason, 'stop');

    const result = await rt.chat(ask('think before you answer', { provider: 'thinker' }));
    assert.ok(result.reasoning && result.reasoning.length > 0, 'chat() carries the thinking block as reasoning');
    assert.ok(!result.content.includes(result.reasoning));
  });

  test('an error event mid-stream fails the stream with PROVIDER, naming the error type, and is not retried', async () => {
    // Tokens 40 ms apart reach the caller one by one, before the error event.
    server.setOptions({ tokenDelayMs: 40 });
    try {
      const before = chatRequests(server).length;
      server.injectFault({ kind: 'stream-error', afterTokens: 3, message: 'the GPU caught fire' });
      const { events, error } = await collect(rt.stream(ask('this one breaks', { provider: 'claude' })));
      assert.ok(error instanceof ParleyError, `expected a ParleyError, got ${String(error)}`);
      assert.equal(error.code, 'PROVIDER');
      assert.equal(error.provider, 'claude');
      assert.match(error.message, /api_error/);
      assert.match(error.message, /the GPU caught fire/);
      assert.ok(!error.message.includes(API_KEY));
      const texts = events.filter((e) => e.type === 'text').length;
      assert.ok(texts >= 1 && texts <= 3, `the text before the error was delivered (${texts} events)`);
      assert.ok(!events.some((e) => e.type === 'done'));
      assert.equal(chatRequests(server).length - before, 1, 'text reached the caller: no retry');
    } finally {
      server.setOptions({ tokenDelayMs: 0 });
    }
  });

  test('an error body in a 200 chat reply is PROVIDER; api_error is retryable and retried', async () => {
    const before = chatRequests(server).length;
    server.setFault({ kind: 'stream-error', message: 'broken in body' });
    try {
      await assert.rejects(rt.chat(ask('non-stream error', { provider: 'claude' })), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'PROVIDER');
        assert.equal(err.retryable, true);
        assert.match(err.message, /api_error/);
        return true;
      });
    } finally {
      server.setFault(undefined);
    }
    assert.equal(chatRequests(server).length - before, 3, 'one attempt and the two default retries');
  });

  test('a stream that ends without message_stop fails with INCOMPLETE', async () => {
    const before = chatRequests(server).length;
    server.injectFault({ kind: 'truncate', afterTokens: 4 });
    const { events, error } = await collect(rt.stream(ask('cut me short', { provider: 'claude' })));
    assert.ok(error instanceof ParleyError, `expected a ParleyError, got ${String(error)}`);
    assert.equal(error.code, 'INCOMPLETE');
    assert.equal(events.filter((e) => e.type === 'text').length, 4);
    assert.ok(!events.some((e) => e.type === 'done'));
    assert.equal(chatRequests(server).length - before, 1);
  });

  test('the runtime streams normally again after the faults', async () => {
    const { events, error } = await collect(rt.stream(ask('all good again', { provider: 'claude' })));
    assert.equal(error, undefined);
    assert.equal(events.at(-1)?.type, 'done');
    const stats = await rt.stats();
    assert.equal(stats.inFlight, 0);
    assert.equal(stats.restarts, 0);
  });
});
