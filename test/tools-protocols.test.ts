/**
 * Tool calls on all three protocols, in one shape: the model's call comes back
 * as { id, name, arguments: JSON string } from chat() and as tool_call events
 * from stream(); the results go back in each provider's own format; a
 * Conversation carries the tool turns in its history.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type ChatRequest, type Message, type Runtime, type ToolCall } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, collect } from './helpers/fixtures.ts';

const weather = {
  name: 'get_weather',
  description: 'Current weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

const QUESTION = 'What is the weather in Paris?';
const FORECAST = 'Sunny and 21 degrees';

const PROTOCOLS = [
  // finishReason is 'tool-calls' everywhere; the provider's own word stays in rawFinishReason (Ollama has none for it).
  { kind: 'ollama', path: '/api/chat', rawFinishReason: 'stop' },
  { kind: 'openai', path: '/v1/chat/completions', rawFinishReason: 'tool_calls' },
  { kind: 'anthropic', path: '/v1/messages', rawFinishReason: 'tool_use' },
] as const;

type Kind = (typeof PROTOCOLS)[number]['kind'];

function question(kind: Kind, extra: Partial<ChatRequest> = {}): ChatRequest {
  return { provider: kind, model: 'parley-echo', messages: [{ role: 'user', content: QUESTION }], tools: [weather], ...extra };
}

function assertToolCall(call: ToolCall | undefined): asserts call is ToolCall {
  assert.ok(call, 'a tool call');
  assert.deepEqual(Object.keys(call).sort(), ['arguments', 'id', 'name'], 'one shape on every protocol');
  assert.equal(typeof call.id, 'string');
  assert.ok(call.id.length > 0);
  assert.equal(call.name, 'get_weather');
  assert.equal(typeof call.arguments, 'string');
  const args = JSON.parse(call.arguments) as { city?: unknown };
  assert.equal(typeof args.city, 'string');
  assert.match(args.city as string, /Paris/, 'the arguments follow the schema and the question');
}

describe('tool calls on ollama, openai and anthropic', () => {
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    server = await startModelServer();
    rt = await createRuntime({
      providers: {
        ollama: { kind: 'ollama', baseUrl: server.url },
        openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'sk-openai-test' },
        anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'sk-ant-test-tools' },
      },
      ...TEST_RUNTIME_DEFAULTS,
    });
  });
  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  });

  const lastBody = (path: string) => server.requests.filter((r) => r.method === 'POST' && r.path === path).at(-1)?.body as Record<string, unknown>;

  for (const { kind, path, rawFinishReason } of PROTOCOLS) {
    test(`chat() (${kind}) returns toolCalls [{ id, name, arguments }] with finishReason tool-calls (raw ${rawFinishReason})`, async () => {
      const result = await rt.chat(question(kind));
      assert.equal(result.provider, kind);
      assert.equal(result.finishReason, 'tool-calls');
      assert.equal(result.rawFinishReason, rawFinishReason);
      assert.equal(result.toolCalls?.length, 1);
      assertToolCall(result.toolCalls[0]);
      assert.equal(result.content, '');
      assert.ok(Array.isArray(lastBody(path).tools), 'the tools were offered to the server');
    });

    test(`stream() (${kind}) yields tool_call events of the same shape as the result's toolCalls`, async () => {
      const { events, error } = await collect(rt.stream(question(kind)));
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      const calls = events.flatMap((e) => (e.type === 'tool_call' ? [e.toolCall] : []));
      assert.equal(calls.length, 1);
      assertToolCall(calls[0]);
      assert.deepEqual(last.result.toolCalls, calls);
      assert.equal(last.result.finishReason, 'tool-calls');
      assert.equal(last.result.rawFinishReason, rawFinishReason);
      assert.equal(last.result.content, '');
    });

    test(`a tool result round trip (${kind}) reaches the server in its own format and the reply uses it`, async () => {
      const first = await rt.chat(question(kind));
      const call = first.toolCalls?.[0];
      assertToolCall(call);
      const messages: Message[] = [
        { role: 'user', content: QUESTION },
        { role: 'assistant', content: first.content, toolCalls: first.toolCalls! },
        { role: 'tool', toolCallId: call.id, content: FORECAST },
      ];
      const reply = await rt.chat({ provider: kind, model: 'parley-echo', messages, tools: [weather] });
      assert.equal(reply.toolCalls, undefined);
      assert.ok(reply.content.includes(FORECAST), `the reply mentions the tool result: ${reply.content}`);

      const wire = lastBody(path).messages as Record<string, unknown>[];
      if (kind === 'openai') {
        assert.equal(wire.length, 3);
        assert.deepEqual(wire[2], { role: 'tool', tool_call_id: call.id, content: FORECAST });
        const sentCalls = wire[1]!.tool_calls as { id: string; type: string; function: { name: string; arguments: string } }[];
        assert.deepEqual(sentCalls, [{ id: call.id, type: 'function', function: { name: 'get_weather', arguments: call.arguments } }]);
      } else if (kind === 'ollama') {
        assert.equal(wire.length, 3);
        assert.equal(wire[2]!.role, 'tool');
        assert.equal(wire[2]!.content, FORECAST);
        const sentCalls = wire[1]!.tool_calls as { function: { name: string; arguments: unknown } }[];
        assert.equal(sentCalls[0]!.function.name, 'get_weather');
        assert.deepEqual(sentCalls[0]!.function.arguments, JSON.parse(call.arguments), 'Ollama takes the arguments as an object');
      } else {
        assert.equal(wire.length, 3);
        assert.deepEqual(wire[1], {
          role: 'assistant',
          content: [{ type: 'tool_use', id: call.id, name: 'get_weather', input: JSON.parse(call.arguments) }],
        });
        assert.deepEqual(wire[2], { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: FORECAST }] });
      }
    });

    test(`a Conversation (${kind}) carries tool turns: send -> toolCalls -> sendToolResults -> reply`, async () => {
      const conv = await rt.conversation({ provider: kind, model: 'parley-echo', tools: [weather] });
      try {
        const asked = await conv.send(QUESTION);
        const call = asked.toolCalls?.[0];
        assertToolCall(call);
        const answered = await conv.sendToolResults([{ toolCallId: call.id, content: FORECAST }]);
        assert.equal(answered.toolCalls, undefined);
        // The name filled in from the call reaches every protocol's server.
        assert.ok(answered.content.includes(`The get_weather tool returned: ${FORECAST}`), answered.content);

        const messages = conv.messages;
        assert.deepEqual(
          messages.map((m) => m.role),
          ['user', 'assistant', 'tool', 'assistant'],
        );
        assert.deepEqual(messages[1]!.toolCalls, [call]);
        assert.equal(messages[2]!.toolCallId, call.id);
        assert.equal(messages[2]!.name, 'get_weather');
        assert.equal(messages[2]!.content, FORECAST);
        assert.equal(messages[3]!.content, answered.content);

        // The conversation goes on as usual afterwards.
        const next = await conv.send('Thanks!');
        assert.equal(next.provider, kind);
        assert.equal(conv.messages.length, 6);
      } finally {
        await conv.close();
      }
    });
  }

  test('anthropic: two consecutive tool results travel in ONE user turn of tool_result blocks', async () => {
    const calls: ToolCall[] = [
      { id: 'toolu_paris', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { id: 'toolu_rome', name: 'get_weather', arguments: '{"city":"Rome"}' },
    ];
    const reply = await rt.chat({
      provider: 'anthropic',
      model: 'parley-echo',
      messages: [
        { role: 'system', content: 'Use the tools.' },
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { role: 'assistant', content: 'Checking both.', toolCalls: calls },
        { role: 'tool', toolCallId: 'toolu_paris', content: 'Paris: sunny' },
        { role: 'tool', toolCallId: 'toolu_rome', content: 'Rome: rainy' },
      ],
      tools: [weather],
    });
    assert.ok(reply.content.includes('Rome: rainy'), reply.content);

    const body = lastBody('/v1/messages');
    assert.equal(body.system, 'Use the tools.');
    const wire = body.messages as { role: string; content: unknown }[];
    assert.deepEqual(
      wire.map((m) => m.role),
      ['user', 'assistant', 'user'],
      'strict alternation: the two results share one user turn',
    );
    assert.deepEqual(wire[1]!.content, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'toolu_paris', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'toolu_rome', name: 'get_weather', input: { city: 'Rome' } },
    ]);
    assert.deepEqual(wire[2]!.content, [
      { type: 'tool_result', tool_use_id: 'toolu_paris', content: 'Paris: sunny' },
      { type: 'tool_result', tool_use_id: 'toolu_rome', content: 'Rome: rainy' },
    ]);
  });

  test('conversation: a result for a call the model did not make is refused before any I/O and leaves the history', async () => {
    const conv = await rt.conversation({ provider: 'anthropic', model: 'parley-echo', tools: [weather] });
    try {
      const asked = await conv.send(QUESTION);
      const call = asked.toolCalls![0]!;
      const seen = server.requests.length;
      await assert.rejects(conv.sendToolResults([{ toolCallId: 'toolu_nope', content: 'x' }]), { code: 'INVALID_REQUEST' });
      assert.equal(server.requests.length, seen, 'no request was sent');
      assert.equal(conv.messages.length, 2, 'the history is as it was');
      await conv.sendToolResults([{ toolCallId: call.id, content: FORECAST }]);
      assert.deepEqual(
        conv.messages.map((m) => m.role),
        ['user', 'assistant', 'tool', 'assistant'],
      );
    } finally {
      await conv.close();
    }
  });
});
