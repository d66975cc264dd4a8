import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';

describe('model server: Anthropic /v1/messages through the @anthropic-ai/sdk client', () => {
  let server: ModelServer;
  let client: Anthropic;
  before(async () => {
    server = await startModelServer();
    client = new Anthropic({ baseURL: server.url, apiKey: 'test', maxRetries: 0 });
  });
  after(() => server.close());

  const base = { model: 'parley-echo', max_tokens: 256, messages: [{ role: 'user' as const, content: 'Summarise the plot of Hamlet' }] };

  test('messages.create() returns a message with a text block, end_turn and usage', async () => {
    const msg = await client.messages.create({ ...base, system: 'You are terse.' });
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, 'parley-echo');
    assert.equal(msg.stop_reason, 'end_turn');
    assert.equal(msg.content.length, 1);
    const block = msg.content[0]!;
    assert.ok(block.type === 'text');
    assert.match(block.text, /Summarise the plot of Hamlet/);
    assert.equal(msg.usage.input_tokens, 8, 'system words count too');
    assert.equal(msg.usage.output_tokens, block.text.match(/\s*\S+/g)!.length);
  });

  test('messages.stream() emits the event sequence and its text deltas concatenate to the same reply', async () => {
    const whole = await client.messages.create(base);
    const stream = client.messages.stream(base);
    const types: string[] = [];
    let text = '';
    stream.on('streamEvent', (event) => types.push(event.type));
    stream.on('text', (delta) => (text += delta));
    const final = await stream.finalMessage();
    assert.deepEqual(final.content, whole.content);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
    assert.equal(text, (whole.content[0] as { text: string }).text);
    assert.equal(types[0], 'message_start');
    assert.equal(types[1], 'content_block_start');
    assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
  });

  test('the raw stream carries ping and named events', async () => {
    const res = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'test' },
      body: JSON.stringify({ ...base, stream: true }),
    });
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = [...(await res.text()).matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
    assert.deepEqual(events.slice(0, 3), ['message_start', 'ping', 'content_block_start']);
    assert.equal(events.at(-1), 'message_stop');
  });

  test('max_tokens caps the reply with stop_reason max_tokens', async () => {
    const msg = await client.messages.create({ ...base, max_tokens: 2 });
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.output_tokens, 2);
  });

  test('a request without max_tokens gets 400 invalid_request_error', async () => {
    const res = await fetch(`${server.url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'parley-echo', messages: base.messages }),
    });
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  });

  const tools: Anthropic.Tool[] = [
    {
      name: 'search_library',
      description: 'Search the library',
      input_schema: { type: 'object', properties: { title: { type: 'string' }, limit: { type: 'number' } } },
    },
  ];

  test('offered tools get a tool_use block streamed as input_json_delta fragments', async () => {
    const stream = client.messages.stream({ ...base, tools });
    let fragments = 0;
    stream.on('inputJson', () => (fragments += 1));
    const final = await stream.finalMessage();
    assert.equal(final.stop_reason, 'tool_use');
    const block = final.content[0]!;
    assert.ok(block.type === 'tool_use');
    assert.equal(block.name, 'search_library');
    assert.ok(block.id.startsWith('toolu_'));
    assert.deepEqual(block.input, { title: 'Summarise the plot of Hamlet', limit: 1 });
    assert.ok(fragments > 1);
  });

  test('a tool_result block comes back into the reply text', async () => {
    const first = await client.messages.create({ ...base, tools });
    const use = first.content[0] as Anthropic.ToolUseBlock;
    const second = await client.messages.create({
      ...base,
      tools,
      messages: [
        ...base.messages,
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Hamlet avenges his father' }] },
      ],
    });
    assert.equal(second.stop_reason, 'end_turn');
    assert.match((second.content[0] as Anthropic.TextBlock).text, /The search_library tool returned: Hamlet avenges his father/);
  });

  test('thinking enabled streams a thinking block with a signature before the text block', async () => {
    const stream = client.messages.stream({ ...base, thinking: { type: 'enabled', budget_tokens: 1024 } });
    let thinking = '';
    stream.on('thinking', (delta) => (thinking += delta));
    const final = await stream.finalMessage();
    assert.deepEqual(
      final.content.map((b) => b.type),
      ['thinking', 'text'],
    );
    const block = final.content[0] as Anthropic.ThinkingBlock;
    assert.equal(block.thinking, thinking);
    assert.ok(block.signature.length > 0);
    assert.match(thinking, /Summarise the plot of Hamlet/);
  });

  test("models.list() gets Anthropic's shape; the same path without Anthropic headers gets OpenAI's", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      assert.equal(m.type, 'model');
      assert.equal(m.display_name, m.id);
      ids.push(m.id);
    }
    assert.deepEqual(ids, ['parley-echo', 'parley-small']);
    const raw = (await (await fetch(`${server.url}/v1/models`)).json()) as { object: string };
    assert.equal(raw.object, 'list');
  });
});
