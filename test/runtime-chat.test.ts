import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type ChatResult } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { PROTOCOLS, TEST_RUNTIME_DEFAULTS, ask, closedPort, collect, startStack, textOf, type Stack } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

/** rawFinishReason is the provider's own word for a reply that ended by itself; finishReason is 'stop' for all. */
const NATURAL_STOP = { ollama: 'stop', openai: 'stop', anthropic: 'end_turn' } as const;

const weather = {
  name: 'get_weather',
  description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

function assertResult(result: ChatResult, provider: string): void {
  assert.equal(result.provider, provider);
  assert.equal(result.model, 'parley-echo');
  assert.equal(typeof result.finishReason, 'string');
  assert.ok(result.finishReason.length > 0);
  assert.ok(result.content.length > 0);
  assert.ok(result.usage, 'usage is reported');
  assert.ok((result.usage.outputTokens ?? 0) > 0);
}

describe('runtime chat and stream against the embedded server', () => {
  let stack: Stack;
  let reasoning: Stack;
  before(async () => {
    stack = await startStack();
    reasoning = await startStack({ reasoning: true });
  });
  after(async () => {
    await stack.close();
    await reasoning.close();
  });

  for (const kind of PROTOCOLS) {
    test(`chat() (${kind}) returns content, finishReason, model, provider and usage`, async () => {
      const result = await stack.rt.chat(ask('hello there', { provider: kind }));
      assertResult(result, kind);
      assert.equal(result.finishReason, 'stop');
      assert.equal(result.rawFinishReason, NATURAL_STOP[kind]);
      assert.match(result.content, /hello there/);
    });

    test(`stream() (${kind}) text events concatenate to result.content and the last event is done`, async () => {
      const { events, error } = await collect(stack.rt.stream(ask('stream me', { provider: kind })));
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done', 'the last event is done');
      assert.equal(events.filter((e) => e.type === 'done').length, 1);
      assert.ok(events.filter((e) => e.type === 'text').length > 1, 'text arrives in several events');
      assertResult(last.result, kind);
      assert.equal(textOf(events), last.result.content);
    });

    test(`stream() (${kind}) reports reasoning events and result.reasoning`, async () => {
      const { events, error } = await collect(reasoning.rt.stream(ask('think first', { provider: kind })));
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      const thought = events.map((e) => (e.type === 'reasoning' ? e.text : '')).join('');
      assert.ok(thought.length > 0, 'reasoning events arrive');
      assert.equal(last.result.reasoning, thought);
      assert.equal(textOf(events), last.result.content);
      const firstText = events.findIndex((e) => e.type === 'text');
      const lastReasoning = events.findLastIndex((e) => e.type === 'reasoning');
      assert.ok(lastReasoning < firstText, 'reasoning comes before the text');
    });

    test(`chat() (${kind}) with reasoning keeps it apart from the content`, async () => {
      const result = await reasoning.rt.chat(ask('think first', { provider: kind }));
      assert.ok(result.reasoning && result.reasoning.length > 0);
      assert.ok(!result.content.includes(result.reasoning));
    });

    test(`chat() and stream() (${kind}) return the tool call the model made`, async () => {
      const result = await stack.rt.chat(ask('weather in Paris?', { provider: kind, tools: [weather] }));
      assert.ok(result.toolCalls && result.toolCalls.length === 1, 'one tool call');
      const call = result.toolCalls[0]!;
      assert.equal(call.name, 'get_weather');
      assert.equal(typeof call.id, 'string');
      assert.equal(typeof JSON.parse(call.arguments), 'object');

      const { events, error } = await collect(stack.rt.stream(ask('weather in Paris?', { provider: kind, tools: [weather] })));
      assert.equal(error, undefined);
      const calls = events.filter((e) => e.type === 'tool_call');
      assert.equal(calls.length, 1);
      const last = events.at(-1);
      assert.ok(last && last.type === 'done');
      assert.deepEqual(last.result.toolCalls?.map((c) => c.name), ['get_weather']);
      assert.equal(calls[0]!.type === 'tool_call' && calls[0]!.toolCall.name, 'get_weather');
      assert.equal(typeof JSON.parse(last.result.toolCalls![0]!.arguments), 'object');
    });

    test(`models() (${kind}) lists the server's models`, async () => {
      const models = await stack.rt.models(kind);
      assert.deepEqual(models.map((m) => m.id).sort(), ['parley-echo', 'parley-small']);
    });
  }

  test('200 sequential chats on one runtime all succeed (the "second message" bug)', async () => {
    for (let i = 0; i < 200; i++) {
      const result = await stack.rt.chat(ask(`message ${i}`, { provider: PROTOCOLS[i % 3], maxTokens: 4 }));
      assert.ok(result.content.length > 0, `chat ${i} has content`);
    }
    const stats = await stack.rt.stats();
    assert.equal(stats.inFlight, 0);
    assert.equal(stats.restarts, 0);
  });

  test('sequential streams each end with done', async () => {
    for (let i = 0; i < 20; i++) {
      const { events, error } = await collect(stack.rt.stream(ask(`stream ${i}`, { provider: PROTOCOLS[i % 3], maxTokens: 6 })));
      assert.equal(error, undefined);
      assert.equal(events.at(-1)?.type, 'done');
    }
  });
});

describe('runtime health()', () => {
  test('a provider that is down reports ok:false with a code, without throwing', async () => {
    const server = await startModelServer();
    const port = await closedPort();
    const rt = await createRuntime({ workers: testWorkers,
      providers: {
        up: { kind: 'ollama', baseUrl: server.url },
        down: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1` },
      },
      ...TEST_RUNTIME_DEFAULTS,
    });
    try {
      const reports = await rt.health();
      assert.equal(reports.length, 2);
      const up = reports.find((r) => r.provider === 'up');
      const down = reports.find((r) => r.provider === 'down');
      assert.equal(up?.ok, true);
      assert.equal(down?.ok, false);
      assert.equal(down?.error?.code, 'UNREACHABLE');

      const single = await rt.health('down');
      assert.equal(single.ok, false);
      assert.equal((await rt.health('up')).ok, true);
      // The runtime still serves the healthy provider.
      assert.ok((await rt.chat(ask('still here', { provider: 'up' }))).content.length > 0);
    } finally {
      await rt.shutdown();
      await server.close();
    }
  });
});
