import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AnthropicAdapter } from '../src/provider/protocols/anthropic-adapter.ts';
import { ParleyError } from '../src/shared/errors.ts';
import type { AnthropicProviderConfig, ChatRequest, ChatResult } from '../src/shared/types.ts';
import { assertSplitAnywhere, bytes, runStream, type StreamRun } from './helpers/adapter-fixtures.ts';

function adapter(config: Partial<AnthropicProviderConfig> = {}): AnthropicAdapter {
  return new AnthropicAdapter({ name: 'claude', config: { kind: 'anthropic', apiKey: 'sk-ant-secret', ...config } });
}

const REQ: ChatRequest = { model: 'claude-x', messages: [{ role: 'user', content: 'hi' }] };

const run = (chunks: Uint8Array[]): StreamRun => runStream(adapter(), REQ, chunks);

const sse = (...events: Record<string, unknown>[]): string =>
  events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
const delta = (index: number, d: Record<string, unknown>) => ({ type: 'content_block_delta', index, delta: d });
const start = (index: number, block: Record<string, unknown>) => ({ type: 'content_block_start', index, content_block: block });
const stop = (index: number) => ({ type: 'content_block_stop', index });

const STREAM = sse(
  { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'claude-x-2025', stop_reason: null, usage: { input_tokens: 25, output_tokens: 1 } } },
  start(0, { type: 'thinking', thinking: '' }),
  delta(0, { type: 'thinking_delta', thinking: 'let me think' }),
  delta(0, { type: 'signature_delta', signature: 'EqQB' }),
  stop(0),
  { type: 'ping' },
  start(1, { type: 'text', text: '' }),
  delta(1, { type: 'text_delta', text: 'héllo 🌍' }),
  delta(1, { type: 'text_delta', text: ' 日本' }),
  stop(1),
  start(2, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }),
  delta(2, { type: 'input_json_delta', partial_json: '' }),
  delta(2, { type: 'input_json_delta', partial_json: '{"city": ' }),
  delta(2, { type: 'input_json_delta', partial_json: '"Paris"}' }),
  stop(2),
  start(3, { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} }),
  stop(3),
  { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 89 } },
  { type: 'message_stop' },
);

const EXPECTED: ChatResult = {
  content: 'héllo 🌍 日本',
  finishReason: 'tool-calls',
  rawFinishReason: 'tool_use',
  model: 'claude-x-2025',
  provider: 'claude',
  usage: { inputTokens: 25, outputTokens: 89, totalTokens: 114, raw: { input_tokens: 25, output_tokens: 89 } },
  toolCalls: [
    { id: 'toolu_1', name: 'get_weather', arguments: '{"city": "Paris"}' },
    { id: 'toolu_2', name: 'get_time', arguments: '{}' },
  ],
  reasoning: 'let me think',
  reasoningBlocks: [{ type: 'thinking', thinking: 'let me think', signature: 'EqQB' }],
};

describe('AnthropicAdapter.chatRequest()', () => {
  it('maps system, tool calls and tool results onto alternating turns', () => {
    const spec = adapter().chatRequest(
      {
        model: 'claude-x',
        messages: [
          { role: 'system', content: 'be brief' },
          { role: 'system', content: 'be kind' },
          { role: 'user', content: 'weather and time?' },
          {
            role: 'assistant',
            content: 'checking',
            toolCalls: [
              { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { id: 'toolu_2', name: 'get_time', arguments: '' },
            ],
          },
          { role: 'tool', content: 'sunny', toolCallId: 'toolu_1' },
          { role: 'tool', content: '12:00', toolCallId: 'toolu_2' },
          { role: 'user', content: 'thanks, and tomorrow?' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_3', name: 'get_weather', arguments: '{"city":"Paris","day":1}' }] },
          { role: 'tool', content: 'rain', toolCallId: 'toolu_3' },
        ],
        temperature: 0.3,
        topP: 0.8,
        stop: ['END'],
        tools: [{ name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }, { name: 'get_time' }],
        extra: { thinking: { type: 'enabled', budget_tokens: 1024 } },
      },
      true,
    );
    assert.equal(spec.method, 'POST');
    assert.equal(spec.url, 'https://api.anthropic.com/v1/messages');
    assert.deepEqual(JSON.parse(spec.body!), {
      model: 'claude-x',
      max_tokens: 4096,
      system: 'be brief\n\nbe kind',
      messages: [
        { role: 'user', content: 'weather and time?' },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'checking' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: {} },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: '12:00' },
            { type: 'text', text: 'thanks, and tomorrow?' },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_3', name: 'get_weather', input: { city: 'Paris', day: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_3', content: 'rain' }] },
      ],
      temperature: 0.3,
      top_p: 0.8,
      stop_sequences: ['END'],
      tools: [
        { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
        { name: 'get_time', input_schema: { type: 'object', properties: {} } },
      ],
      stream: true,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
  });

  it('omits system when there is none and keeps an explicit max_tokens', () => {
    const body = JSON.parse(adapter().chatRequest({ ...REQ, maxTokens: 10 }, false).body!);
    assert.deepEqual(body, { model: 'claude-x', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }], stream: false });
  });

  it('sends x-api-key and anthropic-version (default or configured), and the configured headers', () => {
    const spec = adapter({ baseUrl: 'https://proxy/anthropic/', headers: { 'anthropic-beta': 'x' } }).chatRequest(REQ, true);
    assert.equal(spec.url, 'https://proxy/anthropic/v1/messages');
    assert.deepEqual(spec.headers, {
      accept: 'text/event-stream',
      'anthropic-version': '2023-06-01',
      'content-type': 'application/json',
      'x-api-key': 'sk-ant-secret',
      'anthropic-beta': 'x',
    });
    assert.equal(adapter({ version: '2024-01-01' }).chatRequest(REQ, false).headers['anthropic-version'], '2024-01-01');
  });
});

describe('AnthropicAdapter.streamParser()', () => {
  it('push() yields the same events and result wherever the bytes are split', () => {
    assertSplitAnywhere(adapter(), REQ, bytes(STREAM), EXPECTED, [
      { type: 'reasoning', text: 'let me think' },
      { type: 'text', text: 'héllo 🌍' },
      { type: 'text', text: ' 日本' },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![0] },
      { type: 'tool_call', toolCall: EXPECTED.toolCalls![1] },
    ]);
  });

  it('push() emits a tool call at its content_block_stop, not before', () => {
    const parser = adapter().streamParser(REQ);
    const opened = parser.push(bytes(sse(start(0, { type: 'tool_use', id: 't', name: 'f', input: {} }), delta(0, { type: 'input_json_delta', partial_json: '{"a":1}' }))));
    assert.deepEqual(opened, []);
    assert.deepEqual(parser.push(bytes(sse(stop(0)))), [{ type: 'tool_call', toolCall: { id: 't', name: 'f', arguments: '{"a":1}' } }]);
  });

  it('push() reads CRLF framing, and events whose type is only in the SSE event field', () => {
    const data = (sse(start(0, { type: 'text', text: '' }), delta(0, { type: 'text_delta', text: 'a' })) + 'event: message_stop\ndata: {}\n\n').replaceAll('\n', '\r\n');
    const { result } = run([bytes(data)]);
    assert.deepEqual(result, { content: 'a', finishReason: 'stop', model: 'claude-x', provider: 'claude' });
  });

  it('finish() throws INCOMPLETE when message_stop never came', () => {
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(sse(start(0, { type: 'text', text: '' }), delta(0, { type: 'text_delta', text: 'a' }))));
    assert.equal(parser.done, false);
    assert.throws(() => parser.finish(), { code: 'INCOMPLETE', provider: 'claude' });
  });

  it('push() throws PROVIDER "type: message" for an error event', () => {
    const parser = adapter().streamParser(REQ);
    const data = bytes(sse({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    assert.throws(
      () => parser.push(data),
      (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'PROVIDER');
        assert.equal(err.message, 'overloaded_error: Overloaded');
        assert.equal(err.provider, 'claude');
        assert.equal(err.retryable, true);
        return true;
      },
    );
    const invalid = bytes(sse({ type: 'error', error: { type: 'invalid_request_error', message: 'bad' } }));
    assert.throws(() => adapter().streamParser(REQ).push(invalid), { code: 'PROVIDER', retryable: false });
  });

  it('push() throws BAD_RESPONSE for data that is not JSON', () => {
    assert.throws(() => adapter().streamParser(REQ).push(bytes('event: content_block_delta\ndata: {"type":\n\n')), { code: 'BAD_RESPONSE' });
  });

  it('push() ignores what follows message_stop', () => {
    const parser = adapter().streamParser(REQ);
    parser.push(bytes(sse({ type: 'message_stop' }) + 'data: nope\n\n'));
    assert.equal(parser.done, true);
    assert.deepEqual(parser.push(bytes('data: nope\n\n')), []);
    assert.equal(parser.finish().content, '');
  });
});

describe('AnthropicAdapter non-stream calls', () => {
  it('parseChat() reads a message', () => {
    const result = adapter().parseChat(
      {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: 'claude-x-2025',
        content: [
          { type: 'thinking', thinking: 'hm', signature: 's' },
          { type: 'text', text: 'Let me check.' },
          { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 5, output_tokens: 6 },
      },
      REQ,
    );
    assert.deepEqual(result, {
      content: 'Let me check.',
      finishReason: 'tool-calls',
      rawFinishReason: 'tool_use',
      model: 'claude-x-2025',
      provider: 'claude',
      usage: { inputTokens: 5, outputTokens: 6, totalTokens: 11, raw: { input_tokens: 5, output_tokens: 6 } },
      toolCalls: [{ id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      reasoning: 'hm',
      reasoningBlocks: [{ type: 'thinking', thinking: 'hm', signature: 's' }],
    });
    assert.throws(() => adapter().parseChat({ type: 'error', error: { type: 'api_error', message: 'x' } }, REQ), { code: 'PROVIDER', message: 'api_error: x' });
    assert.throws(() => adapter().parseChat({ type: 'message' }, REQ), { code: 'BAD_RESPONSE' });
  });

  it('modelsRequest(), healthRequest() and parseModels() use /v1/models', () => {
    for (const spec of [adapter().modelsRequest(), adapter().healthRequest()]) {
      assert.equal(spec.method, 'GET');
      assert.equal(spec.url, 'https://api.anthropic.com/v1/models');
      assert.equal(spec.headers['x-api-key'], 'sk-ant-secret');
    }
    assert.deepEqual(adapter().parseModels({ data: [{ type: 'model', id: 'claude-x', display_name: 'X', created_at: '2025-02-19T00:00:00Z' }], has_more: false }), [
      { id: 'claude-x', created: 1739923200 },
    ]);
  });

  it('errorMessage() shows "type: message" of JSON bodies and never the key', () => {
    assert.equal(adapter().errorMessage(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'), 'overloaded_error: Overloaded');
    assert.equal(adapter().errorMessage(401, 'bad key sk-ant-secret'), 'bad key [redacted]');
  });
});
