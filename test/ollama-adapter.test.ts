import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OllamaAdapter } from '../src/provider/protocols/ollama-adapter.ts';
import type { ChatRequest, ChatResult, OllamaProviderConfig } from '../src/shared/types.ts';
import { assertSplitAnywhere, bytes, runStream, type StreamRun } from './helpers/adapter-fixtures.ts';

function adapter(config: Partial<OllamaProviderConfig> = {}): OllamaAdapter {
  return new OllamaAdapter({ name: 'local', config: { kind: 'ollama', ...config } });
}

const REQ: ChatRequest = { model: 'qwen3', messages: [{ role: 'user', content: 'hi' }] };

const run = (chunks: Uint8Array[]): StreamRun => runStream(adapter(), REQ, chunks);

const ndjson = (...lines: unknown[]): string => lines.map((l) => JSON.stringify(l) + '\n').join('');
const line = (message: Record<string, unknown>, rest: Record<string, unknown> = {}) => ({
  model: 'qwen3:8b',
  created_at: '2025-05-27T22:54:57.641643Z',
  message: { role: 'assistant', content: '', ...message },
  done: false,
  ...rest,
});

const STREAM = ndjson(
  line({ thinking: 'let me ' }),
  line({ thinking: 'see' }),
  line({ content: 'héllo 🌍' }),
  line({ content: ' 日本' }),
  line({ tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Toronto' } } }] }),
  line({ tool_calls: [{ function: { index: 1, name: 'get_time', arguments: {} } }] }),
  line({}, { done: true, done_reason: 'stop', prompt_eval_count: 12, eval_count: 34, total_duration: 1 }),
);

const EXPECTED: ChatResult = {
  content: 'héllo 🌍 日本',
  finishReason: 'tool-calls',
  rawFinishReason: 'stop',
  model: 'qwen3:8b',
  provider: 'local',
  usage: { inputTokens: 12, outputTokens: 34, totalTokens: 46, raw: { prompt_eval_count: 12, eval_count: 34, total_duration: 1 } },
  toolCalls: [
    { id: 'call_0', name: 'get_weather', arguments: '{"city":"Toronto"}' },
    { id: 'call_1', name: 'get_time', arguments: '{}' },
  ],
  reasoning: 'let me see',
};

describe('OllamaAdapter.chatRequest()', () => {
  it('maps the request onto /api/chat with options', () => {
    const spec = adapter({ baseUrl: 'http://gpu:11434/' }).chatRequest(
      {
        model: 'qwen3',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Toronto"}' }] },
          { role: 'tool', content: '20C', toolCallId: 'c1', name: 'get_weather' },
        ],
        temperature: 0.2,
        maxTokens: 64,
        topP: 0.5,
        stop: ['\n\n'],
        seed: 1,
        tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object' } }],
        extra: { think: true, keep_alive: '5m' },
      },
      true,
    );
    assert.equal(spec.method, 'POST');
    assert.equal(spec.url, 'http://gpu:11434/api/chat');
    assert.deepEqual(JSON.parse(spec.body!), {
      model: 'qwen3',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'weather?' },
        { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Toronto' } } }] },
        { role: 'tool', content: '20C', tool_name: 'get_weather' },
      ],
      stream: true,
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } } }],
      options: { temperature: 0.2, num_predict: 64, top_p: 0.5, stop: ['\n\n'], seed: 1 },
      think: true,
      keep_alive: '5m',
    });
  });

  it('uses the default base URL, omits empty options, and sends auth only with an apiKey', () => {
    const plain = adapter().chatRequest(REQ, false);
    assert.equal(plain.url, 'http://127.0.0.1:11434/api/chat');
    assert.deepEqual(JSON.parse(plain.body!), { model: 'qwen3', messages: [{ role: 'user', content: 'hi' }], stream: false });
    assert.equal(plain.headers.authorization, undefined);
    assert.equal(plain.headers['content-type'], 'application/json');
    const keyed = adapter({ apiKey: 'ollama-key', headers: { 'x-extra': '1' } }).chatRequest(REQ, true);
    assert.equal(keyed.headers.authorization, 'Bearer ollama-key');
    assert.equal(keyed.headers['x-extra'], '1');
  });

  it('refuses tool call arguments that are not JSON with INVALID_REQUEST naming the field', () => {
    const req: ChatRequest = { model: 'm', messages: [{ role: 'assistant', content: '', toolCalls: [{ id: 'a', name: 'f', arguments: '{oops' }] }] };
    assert.throws(() => adapter().chatRequest(req, true), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INVALID_REQUEST');
      assert.match(err.message, /request\.messages\[0\]\.toolCalls\[0\]\.arguments/);
      return true;
    });
  });
});

describe('OllamaAdapter.streamParser()', () => {
  it('push() yields the same events and result wherever the bytes are split', () => {
    assertSplitAnywhere(adapter(), REQ, bytes(STREAM), EXPECTED, [
      { type: 'reasoning', text: 'let me ' },
      { type: 'reasoning', text: 'see' },
      { type: 'text', text: 'héllo 🌍' },
      { type: 'text', text: ' 日本' },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![0] },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![1] },
    ]);
  });

  it('push() reads CRLF lines and keeps tool call ids the server sent', () => {
    const data = ndjson(
      line({ tool_calls: [{ id: 'srv_1', function: { name: 'f', arguments: '{"a":1}' } }] }),
      line({}, { done: true, done_reason: 'stop' }),
    ).replaceAll('\n', '\r\n');
    assert.deepEqual(run([bytes(data)]).result.toolCalls, [{ id: 'srv_1', name: 'f', arguments: '{"a":1}' }]);
  });

  it('finish() accepts a done line without its newline', () => {
    const data = ndjson(line({ content: 'a' })) + JSON.stringify(line({}, { done: true, done_reason: 'length' }));
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(data));
    assert.equal(parser.done, false);
    assert.equal(parser.finish().finishReason, 'length');
  });

  it('push() marks done at the done line and ignores what follows', () => {
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(ndjson(line({ content: 'a' }), line({}, { done: true })) + 'not json\n'));
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push(bytes('more garbage\n')), []);
    assert.deepEqual(parser.finish(), { content: 'a', finishReason: 'stop', model: 'qwen3:8b', provider: 'local' });
  });

  it('finish() throws INCOMPLETE when no done line came', () => {
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(ndjson(line({ content: 'a' }))));
    assert.throws(() => parser.finish(), { code: 'INCOMPLETE', provider: 'local' });
  });

  it('an error line: the text before it in the same chunk is kept, then finish() throws PROVIDER', () => {
    const parser = adapter().streamParser(REQ);
    const events = parser.push(bytes(ndjson(line({ content: 'a' }), { error: 'model runner has unexpectedly stopped' })));
    assert.deepEqual(events, [{ type: 'text', text: 'a' }]);
    assert.equal(parser.done, true);
    assert.throws(() => parser.finish(), { code: 'PROVIDER', message: 'model runner has unexpectedly stopped', provider: 'local' });
  });

  it('push() throws PROVIDER for an error line with nothing before it', () => {
    const parser = adapter().streamParser(REQ);
    assert.throws(() => parser.push(bytes(ndjson({ error: 'model runner has unexpectedly stopped' }))), {
      code: 'PROVIDER',
      message: 'model runner has unexpectedly stopped',
      provider: 'local',
    });
  });

  it('push() throws BAD_RESPONSE for a line that is not JSON or has no message', () => {
    assert.throws(() => adapter().streamParser(REQ).push(bytes('{"model":\n')), { code: 'BAD_RESPONSE' });
    assert.throws(() => adapter().streamParser(REQ).push(bytes('{"model":"m","done":false}\n')), { code: 'BAD_RESPONSE' });
  });
});

describe('OllamaAdapter non-stream calls', () => {
  it('parseChat() reads a whole reply', () => {
    const result = adapter().parseChat(
      line({ content: 'hi', thinking: 'hm', tool_calls: [{ function: { name: 'f', arguments: { x: 1 } } }] }, { done: true, done_reason: 'stop', prompt_eval_count: 1, eval_count: 2 }),
      REQ,
    );
    assert.deepEqual(result, {
      content: 'hi',
      finishReason: 'tool-calls',
      rawFinishReason: 'stop',
      model: 'qwen3:8b',
      provider: 'local',
      usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3, raw: { prompt_eval_count: 1, eval_count: 2 } },
      toolCalls: [{ id: 'call_0', name: 'f', arguments: '{"x":1}' }],
      reasoning: 'hm',
    });
    assert.throws(() => adapter().parseChat({ error: 'model "x" not found' }, REQ), { code: 'PROVIDER' });
    assert.throws(() => adapter().parseChat([], REQ), { code: 'BAD_RESPONSE' });
  });

  it('modelsRequest() and parseModels() use /api/tags', () => {
    const spec = adapter().modelsRequest();
    assert.equal(spec.method, 'GET');
    assert.equal(spec.url, 'http://127.0.0.1:11434/api/tags');
    assert.deepEqual(adapter().parseModels({ models: [{ name: 'qwen3:8b', model: 'qwen3:8b' }, { name: 'llama3.2' }] }), [{ id: 'qwen3:8b' }, { id: 'llama3.2' }]);
    assert.throws(() => adapter().parseModels({ data: [] }), { code: 'BAD_RESPONSE' });
  });

  it('healthRequest() is a GET of the root', () => {
    const spec = adapter({ baseUrl: 'http://gpu:11434' }).healthRequest();
    assert.equal(spec.method, 'GET');
    assert.equal(spec.url, 'http://gpu:11434/');
  });

  it('errorMessage() takes the error string of JSON bodies', () => {
    assert.equal(adapter().errorMessage(404, '{"error":"model \\"x\\" not found, try pulling it first"}'), 'model "x" not found, try pulling it first');
    assert.equal(adapter().errorMessage(500, 'boom\n'), 'boom');
  });
});
