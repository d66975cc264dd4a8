import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';

describe('model server: OpenAI chat completions through the openai SDK', () => {
  let server: ModelServer;
  let client: OpenAI;
  before(async () => {
    server = await startModelServer();
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test', maxRetries: 0 });
  });
  after(() => server.close());

  const messages = [{ role: 'user' as const, content: 'What is the capital of France?' }];

  test('create() returns a chat.completion that quotes the user and counts usage', async () => {
    const res = await client.chat.completions.create({ model: 'parley-echo', messages });
    assert.equal(res.object, 'chat.completion');
    assert.equal(res.model, 'parley-echo');
    const choice = res.choices[0]!;
    assert.equal(choice.finish_reason, 'stop');
    assert.equal(choice.message.role, 'assistant');
    assert.match(choice.message.content ?? '', /What is the capital of France/);
    assert.match(choice.message.content ?? '', /turn 1/);
    assert.equal(res.usage?.prompt_tokens, 6);
    assert.equal(res.usage?.completion_tokens, (choice.message.content ?? '').match(/\s*\S+/g)!.length);
    assert.equal(res.usage?.total_tokens, res.usage!.prompt_tokens + res.usage!.completion_tokens);
  });

  test('the reply is deterministic and its streamed deltas concatenate to it, with a usage chunk last', async () => {
    const whole = await client.chat.completions.create({ model: 'parley-echo', messages });
    const stream = await client.chat.completions.create({
      model: 'parley-echo',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks += 1;
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) {
        assert.deepEqual(chunk.choices, []);
        usage = chunk.usage;
      }
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finishes.push(c.finish_reason);
      }
    }
    assert.equal(text, whole.choices[0]!.message.content);
    assert.equal(finishes.at(-1), 'stop');
    assert.equal(finishes.filter((f) => f !== null).length, 1);
    assert.deepEqual(usage, whole.usage);
    assert.ok(chunks > 10, 'one chunk per word');
  });

  test('max_tokens and max_completion_tokens cap the reply with finish_reason length', async () => {
    const a = await client.chat.completions.create({ model: 'parley-echo', messages, max_tokens: 3 });
    assert.equal(a.choices[0]!.finish_reason, 'length');
    assert.equal(a.usage?.completion_tokens, 3);
    assert.equal(a.choices[0]!.message.content!.split(' ').length, 3);
    const b = await client.chat.completions.create({ model: 'parley-echo', messages, max_completion_tokens: 5 });
    assert.equal(b.usage?.completion_tokens, 5);
  });

  test('a different model or a second turn changes the reply', async () => {
    const one = await client.chat.completions.create({ model: 'parley-echo', messages });
    const two = await client.chat.completions.create({
      model: 'parley-echo',
      messages: [...messages, { role: 'assistant', content: one.choices[0]!.message.content! }, { role: 'user', content: 'And of Italy?' }],
    });
    assert.match(two.choices[0]!.message.content!, /And of Italy\?/);
    assert.match(two.choices[0]!.message.content!, /turn 2/);
    const other = await client.chat.completions.create({ model: 'parley-small', messages });
    assert.match(other.choices[0]!.message.content!, /parley-small/);
  });

  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
      },
    },
  ];

  test('offered tools get a streamed tool call that the SDK assembles from argument fragments', async () => {
    const runner = client.chat.completions.stream({ model: 'parley-echo', messages: [{ role: 'user', content: 'Weather in Paris' }], tools });
    let fragments = 0;
    runner.on('chunk', (chunk) => {
      if (chunk.choices[0]?.delta.tool_calls) fragments += 1;
    });
    const done = await runner.finalChatCompletion();
    const choice = done.choices[0]!;
    assert.equal(choice.finish_reason, 'tool_calls');
    const call = choice.message.tool_calls![0]!;
    assert.equal(call.type, 'function');
    assert.ok(call.type === 'function' && call.id.startsWith('call_'));
    if (call.type !== 'function') return;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Weather in Paris', days: 1 });
    assert.ok(fragments > 1, 'arguments arrive in several fragments');
  });

  test('a tool result comes back into the reply text', async () => {
    const first = await client.chat.completions.create({ model: 'parley-echo', messages: [{ role: 'user', content: 'Weather in Paris' }], tools });
    const call = first.choices[0]!.message.tool_calls![0]!;
    assert.equal(first.choices[0]!.message.content, null);
    const second = await client.chat.completions.create({
      model: 'parley-echo',
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris' },
        first.choices[0]!.message,
        { role: 'tool', tool_call_id: call.id, content: '22 degrees and sunny' },
      ],
    });
    assert.equal(second.choices[0]!.finish_reason, 'stop');
    assert.match(second.choices[0]!.message.content!, /get_weather tool returned: 22 degrees and sunny/);
  });

  test("tools: 'never' answers with text even when tools are offered", async () => {
    server.setOptions({ tools: 'never' });
    try {
      const res = await client.chat.completions.create({ model: 'parley-echo', messages, tools });
      assert.equal(res.choices[0]!.finish_reason, 'stop');
      assert.equal(res.choices[0]!.message.tool_calls, undefined);
    } finally {
      server.setOptions({ tools: 'auto' });
    }
  });

  test('reasoning streams reasoning_content deltas before the text, and counts them as completion tokens', async () => {
    server.setOptions({ reasoning: true });
    try {
      const stream = await client.chat.completions.create({ model: 'parley-echo', messages, stream: true, stream_options: { include_usage: true } });
      const order: string[] = [];
      let reasoning = '';
      let text = '';
      let completion = 0;
      for await (const chunk of stream) {
        const delta = (chunk.choices[0]?.delta ?? {}) as { content?: string; reasoning_content?: string };
        if (delta.reasoning_content) {
          reasoning += delta.reasoning_content;
          order.push('r');
        }
        if (delta.content) {
          text += delta.content;
          order.push('t');
        }
        if (chunk.usage) completion = chunk.usage.completion_tokens;
      }
      assert.match(reasoning, /The user wrote "What is the capital of France\?"/);
      assert.ok(order.indexOf('t') > order.lastIndexOf('r'), 'all reasoning comes first');
      assert.equal(completion, order.length);
      const whole = await client.chat.completions.create({ model: 'parley-echo', messages });
      assert.equal((whole.choices[0]!.message as { reasoning_content?: string }).reasoning_content, reasoning);
      assert.equal(whole.choices[0]!.message.content, text);
    } finally {
      server.setOptions({ reasoning: false });
    }
  });

  test('models.list() returns the advertised models', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      assert.equal(m.object, 'model');
      ids.push(m.id);
    }
    assert.deepEqual(ids, ['parley-echo', 'parley-small']);
    const one = await client.models.retrieve('parley-small');
    assert.equal(one.id, 'parley-small');
    await assert.rejects(client.models.retrieve('nope'), (err: unknown) => err instanceof OpenAI.NotFoundError);
  });

  test('a request without messages gets a 400 in OpenAI error shape', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'parley-echo', messages: [] }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && err.status === 400 && err.type === 'invalid_request_error',
    );
  });

  test('requests are recorded with their parsed bodies and headers', async () => {
    await client.chat.completions.create({ model: 'parley-echo', messages, temperature: 0.25 });
    const last = server.requests.at(-1)!;
    assert.equal(last.method, 'POST');
    assert.equal(last.path, '/v1/chat/completions');
    assert.equal(last.headers.authorization, 'Bearer test');
    assert.equal((last.body as { temperature: number }).temperature, 0.25);
  });
});
