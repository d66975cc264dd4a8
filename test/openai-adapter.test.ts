import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAdapter } from '../src/provider/protocols/adapters.ts';
import { OpenAIAdapter } from '../src/provider/protocols/openai-adapter.ts';
import type { Adapter } from '../src/provider/protocols/adapter.ts';
import type { ChatRequest, ChatResult, ProviderConfig } from '../src/shared/types.ts';
import { assertSplitAnywhere, bytes, runStream, type StreamRun } from './helpers/adapter-fixtures.ts';

function adapter(config: Partial<ProviderConfig> = {}): Adapter {
  return createAdapter({ name: 'router', config: { kind: 'openai', baseUrl: 'http://host/v1', ...config } as ProviderConfig });
}

const REQ: ChatRequest = { model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }] };

const run = (chunks: Uint8Array[], a = adapter()): StreamRun => runStream(a, REQ, chunks);

const sse = (...data: string[]): string => data.map((d) => `data: ${d}\n\n`).join('');

const STREAM = [
  '{"id":"c1","object":"chat.completion.chunk","model":"gpt-x-2024","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}',
  '{"choices":[{"index":0,"delta":{"reasoning_content":"think "}}]}',
  '{"choices":[{"index":0,"delta":{"reasoning":"more"}}]}',
  '{"choices":[{"index":0,"delta":{"content":"héllo 🌍"}}]}',
  '{"choices":[{"index":0,"delta":{"content":" 日本"}}]}',
  '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}',
  '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\\"city\\":"}}]}}]}',
  '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]}',
  '{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\\"Paris\\"}"}}]}}]}',
  '{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}',
  '{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}',
  '[DONE]',
];

const EXPECTED: ChatResult = {
  content: 'héllo 🌍 日本',
  finishReason: 'tool-calls',
  rawFinishReason: 'tool_calls',
  model: 'gpt-x-2024',
  provider: 'router',
  usage: { inputTokens: 10, outputTokens: 5, totalTokens: 15, raw: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } },
  toolCalls: [
    { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
    { id: 'call_b', name: 'get_time', arguments: '{}' },
  ],
  reasoning: 'think more',
};

describe('OpenAIAdapter.chatRequest()', () => {
  it('maps the request onto a chat completions body', () => {
    const spec = adapter().chatRequest(
      {
        model: 'gpt-x',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'user', content: 'weather?' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
          { role: 'tool', content: 'sunny', toolCallId: 'c1', name: 'get_weather' },
        ],
        temperature: 0.5,
        maxTokens: 100,
        topP: 0.9,
        stop: ['END'],
        seed: 7,
        tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
        extra: { reasoning: { effort: 'low' } },
      },
      true,
    );
    assert.equal(spec.method, 'POST');
    assert.equal(spec.url, 'http://host/v1/chat/completions');
    assert.deepEqual(JSON.parse(spec.body!), {
      model: 'gpt-x',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
      ],
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.5,
      max_tokens: 100,
      top_p: 0.9,
      stop: ['END'],
      seed: 7,
      tools: [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
      ],
      reasoning: { effort: 'low' },
    });
  });

  it('omits unset fields and stream_options when not streaming', () => {
    const spec = adapter().chatRequest(REQ, false);
    assert.deepEqual(JSON.parse(spec.body!), { model: 'gpt-x', messages: [{ role: 'user', content: 'hi' }], stream: false });
    assert.equal(spec.headers.accept, 'application/json');
  });

  it('joins paths whether or not baseUrl ends with a slash', () => {
    for (const baseUrl of ['http://host/v1', 'http://host/v1/', 'http://host/v1//']) {
      const a = adapter({ baseUrl });
      assert.equal(a.chatRequest(REQ, true).url, 'http://host/v1/chat/completions');
      assert.equal(a.modelsRequest().url, 'http://host/v1/models');
    }
  });

  it('sends the bearer token only when an apiKey is set, and the configured headers', () => {
    const withKey = adapter({ apiKey: 'sk-secret', headers: { 'HTTP-Referer': 'https://app' } }).chatRequest(REQ, true);
    assert.deepEqual(withKey.headers, {
      accept: 'text/event-stream',
      'content-type': 'application/json',
      authorization: 'Bearer sk-secret',
      'HTTP-Referer': 'https://app',
    });
    const without = adapter().chatRequest(REQ, true);
    assert.equal(without.headers.authorization, undefined);
  });
});

describe('OpenAIAdapter.streamParser()', () => {
  it('push() yields the same events and result wherever the bytes are split', () => {
    assertSplitAnywhere(adapter(), REQ, bytes(`: OPENROUTER PROCESSING\n\n${sse(...STREAM)}`), EXPECTED, [
      { type: 'reasoning', text: 'think ' },
      { type: 'reasoning', text: 'more' },
      { type: 'text', text: 'héllo 🌍' },
      { type: 'text', text: ' 日本' },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![0] },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![1] },
    ]);
  });

  it('push() reads CRLF and CR framed streams', () => {
    for (const eol of ['\r\n', '\r']) {
      const data = bytes(sse(...STREAM).replaceAll('\n', eol));
      assert.deepEqual(run(Array.from(data, (_, i) => data.subarray(i, i + 1))).result, EXPECTED);
    }
  });

  it('push() emits assembled tool calls at [DONE] when no finish_reason came', () => {
    const { events, result } = run([
      bytes(sse('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"f","arguments":"{\\"a\\":1}"}}]}}]}', '[DONE]')),
    ]);
    assert.deepEqual(events, [{ type: 'tool_call', toolCall: { id: 'x', name: 'f', arguments: '{"a":1}' } }]);
    assert.equal(result.finishReason, 'tool-calls', 'a reply that made tool calls says so even without a finish_reason');
    assert.equal(result.rawFinishReason, undefined);
    assert.equal(result.model, 'gpt-x');
    assert.equal(result.usage, undefined);
    assert.equal(result.reasoning, undefined);
  });

  it('push() gives ids to tool calls that came without one', () => {
    const { result } = run([bytes(sse('{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"f"}}]},"finish_reason":"tool_calls"}]}', '[DONE]'))]);
    assert.deepEqual(result.toolCalls, [{ id: 'call_0', name: 'f', arguments: '{}' }]);
  });

  it('push() ignores what follows [DONE]', () => {
    const parser = adapter().streamParser(REQ);
    assert.deepEqual(parser.push(bytes(sse('{"choices":[{"index":0,"delta":{"content":"a"}}]}', '[DONE]', 'not json'))), [{ type: 'text', text: 'a' }]);
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push(bytes('garbage\n\n')), []);
    assert.equal(parser.finish().content, 'a');
  });

  it('finish() throws INCOMPLETE when [DONE] never came', () => {
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(sse('{"choices":[{"index":0,"delta":{"content":"a"}}]}') + 'data: [DONE]'));
    assert.equal(parser.done, false);
    assert.throws(() => parser.finish(), { code: 'INCOMPLETE', provider: 'router' });
  });

  it('push() throws PROVIDER for an error event and for a chunk carrying an error', () => {
    const eventError = bytes('event: error\ndata: {"error":{"message":"Rate limit reached","type":"requests"}}\n\n');
    assert.throws(() => adapter().streamParser(REQ).push(eventError), { code: 'PROVIDER', message: 'Rate limit reached', provider: 'router' });
    const chunkError = bytes(sse('{"id":"x","choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}],"error":{"code":502,"message":"Provider disconnected"}}'));
    assert.throws(() => adapter().streamParser(REQ).push(chunkError), { code: 'PROVIDER', message: 'Provider disconnected' });
  });

  it('push() throws BAD_RESPONSE for data that is not JSON or not an object', () => {
    assert.throws(() => adapter().streamParser(REQ).push(bytes(sse('{"choices":'))), { code: 'BAD_RESPONSE' });
    assert.throws(() => adapter().streamParser(REQ).push(bytes(sse('42'))), { code: 'BAD_RESPONSE' });
  });
});

describe('OpenAIAdapter non-stream calls', () => {
  it('parseChat() reads a chat completion', () => {
    const result = adapter().parseChat(
      {
        model: 'gpt-x-2024',
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              reasoning_content: 'hmm',
              tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"a":1}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 3, completion_tokens: 4 },
      },
      REQ,
    );
    assert.deepEqual(result, {
      content: '',
      finishReason: 'tool-calls',
      rawFinishReason: 'tool_calls',
      model: 'gpt-x-2024',
      provider: 'router',
      usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7, raw: { prompt_tokens: 3, completion_tokens: 4 } },
      toolCalls: [{ id: 'c1', name: 'f', arguments: '{"a":1}' }],
      reasoning: 'hmm',
    });
  });

  it('parseChat() throws PROVIDER for an error body and BAD_RESPONSE for an unknown shape', () => {
    assert.throws(() => adapter().parseChat({ error: { message: 'nope' } }, REQ), { code: 'PROVIDER', message: 'nope' });
    assert.throws(() => adapter().parseChat({ choices: [] }, REQ), { code: 'BAD_RESPONSE' });
    assert.throws(() => adapter().parseChat('hello', REQ), { code: 'BAD_RESPONSE' });
  });

  it('parseModels() reads data[]', () => {
    assert.deepEqual(adapter().parseModels({ object: 'list', data: [{ id: 'a', owned_by: 'me', created: 1 }, { id: 'b' }, { nope: 1 }] }), [
      { id: 'a', ownedBy: 'me', created: 1 },
      { id: 'b' },
    ]);
    assert.throws(() => adapter().parseModels({ models: [] }), { code: 'BAD_RESPONSE' });
  });

  it('healthRequest() is a GET of the models list', () => {
    const spec = adapter({ apiKey: 'k-123456' }).healthRequest();
    assert.equal(spec.method, 'GET');
    assert.equal(spec.url, 'http://host/v1/models');
    assert.equal(spec.headers.authorization, 'Bearer k-123456');
    assert.equal(spec.body, undefined);
  });

  it('errorMessage() takes error.message of JSON bodies, else trimmed text of at most 500 chars, never the key', () => {
    const a = adapter({ apiKey: 'sk-secret-key' });
    assert.equal(a.errorMessage(401, '{"error":{"message":"Incorrect API key provided: sk-secret-key","type":"invalid_request_error"}}'), 'Incorrect API key provided: [redacted]');
    assert.equal(a.errorMessage(502, '  <html>Bad gateway</html>\n'), '<html>Bad gateway</html>');
    assert.ok(a.errorMessage(500, 'x'.repeat(2000)).length <= 501);
    assert.equal(a.errorMessage(503, ''), 'HTTP 503');
  });
});

describe('createAdapter()', () => {
  it('picks the adapter by kind and refuses unknown kinds with CONFIG', () => {
    assert.ok(adapter() instanceof OpenAIAdapter);
    assert.equal(createAdapter({ name: 'o', config: { kind: 'ollama' } }).kind, 'ollama');
    assert.equal(createAdapter({ name: 'a', config: { kind: 'anthropic', apiKey: 'k' } }).kind, 'anthropic');
    assert.throws(() => createAdapter({ name: 'x', config: { kind: 'gemini' } as unknown as ProviderConfig }), { code: 'CONFIG' });
    assert.throws(() => createAdapter({ name: 'x', config: { kind: 'openai' } as unknown as ProviderConfig }), { code: 'CONFIG' });
  });
});
