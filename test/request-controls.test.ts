/**
 * Tool choice, parallel tool calls and reasoning controls: one request shape,
 * each protocol's own fields on the wire (read back from the model server,
 * over real HTTP), the server honouring the choice, and INVALID_REQUEST
 * before any I/O where a protocol cannot express a control.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChatRequest, ToolSpec } from '../src/index.ts';
import { ask, CHAT_PATHS, collect, PROTOCOLS, rejectsWith, startStack, type Protocol, type Stack } from './helpers/fixtures.ts';

const weather: ToolSpec = { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } };
const CITY_SCHEMA = { type: 'object', properties: { city: { type: 'string' } } };
const clock: ToolSpec = { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } } } };

describe('tool choice and reasoning on ollama, openai and anthropic', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ tools: 'never' });
  });
  after(() => stack.close());

  const lastBody = (kind: Protocol) => stack.server.requests.filter((r) => r.path === CHAT_PATHS[kind]).at(-1)!.body as Record<string, unknown>;
  const tooled = (kind: Protocol, extra: Partial<ChatRequest>) => ask('Weather in Paris?', { provider: kind, tools: [weather, clock], ...extra });

  const NAMED_CHOICE: Record<Exclude<Protocol, 'ollama'>, unknown> = {
    openai: { type: 'function', function: { name: 'get_time' } },
    anthropic: { type: 'tool', name: 'get_time' },
  };
  for (const kind of ['openai', 'anthropic'] as const) {
    test(`toolChoice { name } (${kind}) is sent as the protocol's tool_choice and the model calls that tool`, async () => {
      const result = await stack.rt.chat(tooled(kind, { toolChoice: { name: 'get_time' } }));
      assert.equal(result.toolCalls?.[0]?.name, 'get_time');
      assert.deepEqual(lastBody(kind).tool_choice, NAMED_CHOICE[kind]);
    });

    test(`toolChoice 'required' (${kind}) makes the model call a tool, in a stream too`, async () => {
      const { events, error } = await collect(stack.rt.stream(tooled(kind, { toolChoice: 'required' })));
      assert.equal(error, undefined);
      assert.ok(events.some((e) => e.type === 'tool_call'));
      assert.deepEqual(lastBody(kind).tool_choice, kind === 'openai' ? 'required' : { type: 'any' });
    });
  }

  test('parallelToolCalls false: parallel_tool_calls (openai), disable_parallel_tool_use (anthropic)', async () => {
    await stack.rt.chat(tooled('openai', { parallelToolCalls: false }));
    assert.equal(lastBody('openai').parallel_tool_calls, false);
    await stack.rt.chat(tooled('anthropic', { parallelToolCalls: false, toolChoice: 'auto' }));
    assert.deepEqual(lastBody('anthropic').tool_choice, { type: 'auto', disable_parallel_tool_use: true });
  });

  test("toolChoice 'none' on Ollama sends no tools; with the server calling tools, the reply is text", async () => {
    stack.server.setOptions({ tools: 'auto' });
    try {
      const result = await stack.rt.chat(tooled('ollama', { toolChoice: 'none' }));
      assert.equal(result.toolCalls, undefined);
      assert.ok(result.content.length > 0);
      assert.equal('tools' in lastBody('ollama'), false);
      for (const kind of ['openai', 'anthropic'] as const) {
        const r = await stack.rt.chat(tooled(kind, { toolChoice: 'none' }));
        assert.equal(r.toolCalls, undefined, `${kind} honours none`);
      }
    } finally {
      stack.server.setOptions({ tools: 'never' });
    }
  });

  test('where a protocol cannot express a choice, INVALID_REQUEST names it before any I/O', async () => {
    const before = stack.server.requests.length;
    for (const choice of ['required', { name: 'get_time' }] as const) {
      const err = await rejectsWith(stack.rt.chat(tooled('ollama', { toolChoice: choice })), 'INVALID_REQUEST');
      assert.match(err.message, /request\.toolChoice/);
    }
    await rejectsWith(stack.rt.chat(tooled('ollama', { parallelToolCalls: false })), 'INVALID_REQUEST');
    const unknown = await rejectsWith(stack.rt.chat(tooled('openai', { toolChoice: { name: 'nope' } })), 'INVALID_REQUEST');
    assert.match(unknown.message, /request\.toolChoice\.name/);
    await rejectsWith(stack.rt.chat(ask('Hi', { provider: 'openai', toolChoice: 'required' })), 'INVALID_REQUEST');
    const { error } = await collect(stack.rt.stream(tooled('ollama', { toolChoice: 'required' })));
    assert.equal((error as { code?: string }).code, 'INVALID_REQUEST', 'a stream refuses from its first next()');
    assert.equal(stack.server.requests.length, before, 'nothing was sent');
  });

  const REASONING: Record<Protocol, [ChatRequest['reasoning'], string, unknown][]> = {
    openai: [
      [{ effort: 'high' }, 'reasoning_effort', 'high'],
      [{ enabled: false }, 'reasoning_effort', 'none'],
      // Said, not dropped: OpenAI's default effort.
      [{ enabled: true }, 'reasoning_effort', 'medium'],
    ],
    ollama: [
      [{ enabled: true }, 'think', true],
      [{ effort: 'low' }, 'think', 'low'],
      [{ enabled: false }, 'think', false],
    ],
    anthropic: [
      [{ budgetTokens: 2048 }, 'thinking', { type: 'enabled', budget_tokens: 2048 }],
      [{ effort: 'low' }, 'thinking', { type: 'enabled', budget_tokens: 1024 }],
      [{ enabled: false }, 'thinking', { type: 'disabled' }],
    ],
  };
  for (const kind of PROTOCOLS) {
    test(`reasoning (${kind}) maps to ${REASONING[kind][0]![1]}, and the server thinks when asked`, async () => {
      for (const [reasoning, field, wire] of REASONING[kind]) {
        const result = await stack.rt.chat(ask('Think about it', { provider: kind, reasoning }));
        assert.deepEqual(lastBody(kind)[field], wire, JSON.stringify(reasoning));
        assert.equal(result.reasoning !== undefined, reasoning?.enabled !== false, `reasoning text for ${JSON.stringify(reasoning)}`);
      }
    });
  }

  test('the shape of each control is checked at the door, naming the field', async () => {
    const cases: [Partial<ChatRequest>, RegExp][] = [
      [{ toolChoice: 'any' as never, tools: [weather] }, /request\.toolChoice/],
      [{ toolChoice: { name: 'get_weather', type: 'function' } as never, tools: [weather] }, /request\.toolChoice/],
      [{ parallelToolCalls: 'no' as never }, /request\.parallelToolCalls/],
      [{ reasoning: { effort: 'low', level: 2 } as never }, /request\.reasoning/],
      [{ reasoning: { enabled: false, effort: 'low' } }, /request\.reasoning\.enabled/],
      [{ reasoning: { budgetTokens: 1.5 } }, /request\.reasoning\.budgetTokens/],
      [{ responseFormat: { type: 'json-schema', schema: CITY_SCHEMA, name: 'has space' } }, /request\.responseFormat\.name/],
      [{ responseFormat: { type: 'json-schema', schema: CITY_SCHEMA, strict: 'yes' as never } }, /request\.responseFormat\.strict/],
      [{ responseFormat: { type: 'json-schema', schema: 'object' as never } }, /request\.responseFormat\.schema/],
    ];
    for (const [extra, message] of cases) {
      const err = await rejectsWith(stack.rt.chat(ask('Hi', { provider: 'openai', ...extra })), 'INVALID_REQUEST');
      assert.match(err.message, message, JSON.stringify(extra));
    }
  });

  test('anthropic: max_tokens stays above the thinking budget', async () => {
    await stack.rt.chat(ask('Hi', { provider: 'anthropic', maxTokens: 500, reasoning: { budgetTokens: 2000 } }));
    assert.equal(lastBody('anthropic').max_tokens, 2500);
    await stack.rt.chat(ask('Hi', { provider: 'anthropic', maxTokens: 5000, reasoning: { budgetTokens: 2000 } }));
    assert.equal(lastBody('anthropic').max_tokens, 5000, 'a cap already above the budget is kept');
  });

  test('thinking with temperature or topP on Anthropic is INVALID_REQUEST naming both; budgetTokens elsewhere too', async () => {
    const before = stack.server.requests.length;
    const temp = await rejectsWith(stack.rt.chat(ask('Hi', { provider: 'anthropic', temperature: 0.5, reasoning: { effort: 'low' } })), 'INVALID_REQUEST');
    assert.match(temp.message, /request\.reasoning/);
    assert.match(temp.message, /request\.temperature/);
    const topP = await rejectsWith(stack.rt.chat(ask('Hi', { provider: 'anthropic', topP: 0.9, reasoning: { enabled: true } })), 'INVALID_REQUEST');
    assert.match(topP.message, /request\.topP/);
    for (const kind of ['openai', 'ollama'] as const) {
      const err = await rejectsWith(stack.rt.chat(ask('Hi', { provider: kind, reasoning: { budgetTokens: 2048 } })), 'INVALID_REQUEST');
      assert.match(err.message, /budgetTokens/);
    }
    const forced = await rejectsWith(stack.rt.chat(tooled('anthropic', { toolChoice: 'required', reasoning: { effort: 'low' } })), 'INVALID_REQUEST');
    assert.match(forced.message, /request\.reasoning .*request\.toolChoice/);
    const bad = await rejectsWith(stack.rt.chat(ask('Hi', { reasoning: { effort: 'max' as never } })), 'INVALID_REQUEST');
    assert.match(bad.message, /request\.reasoning\.effort/);
    await rejectsWith(stack.rt.chat(ask('Hi', { provider: 'anthropic', reasoning: { budgetTokens: 100 } })), 'INVALID_REQUEST');
    assert.equal(stack.server.requests.length, before, 'nothing was sent');
    // Thinking turned off goes with temperature.
    await stack.rt.chat(ask('Hi', { provider: 'anthropic', temperature: 0.5, reasoning: { enabled: false } }));
  });
});
