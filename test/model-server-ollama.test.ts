import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ollama } from 'ollama';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';

describe('model server: Ollama /api/chat through the ollama client', () => {
  let server: ModelServer;
  let ollama: Ollama;
  before(async () => {
    server = await startModelServer();
    ollama = new Ollama({ host: server.url });
  });
  after(() => server.close());

  const messages = [{ role: 'user', content: 'Tell me about llamas' }];

  test('chat() without streaming returns one done:true object with counters', async () => {
    const res = await ollama.chat({ model: 'parley-echo', messages });
    assert.equal(res.model, 'parley-echo');
    assert.equal(res.done, true);
    assert.equal(res.done_reason, 'stop');
    assert.equal(res.message.role, 'assistant');
    assert.match(res.message.content, /Tell me about llamas/);
    assert.equal(res.prompt_eval_count, 4);
    assert.equal(res.eval_count, res.message.content.match(/\s*\S+/g)!.length);
    assert.ok(res.total_duration >= res.load_duration + res.prompt_eval_duration + res.eval_duration);
    assert.ok(!Number.isNaN(Date.parse(String(res.created_at))));
  });

  test('chat({ stream: true }) yields NDJSON chunks that concatenate to the same reply, then done', async () => {
    const whole = await ollama.chat({ model: 'parley-echo', messages });
    const parts = await ollama.chat({ model: 'parley-echo', messages, stream: true });
    let text = '';
    let last;
    for await (const part of parts) {
      text += part.message.content;
      last = part;
    }
    assert.equal(text, whole.message.content);
    assert.equal(last?.done, true);
    assert.equal(last?.done_reason, 'stop');
    assert.equal(last?.eval_count, whole.eval_count);
  });

  test('streams by default when the body has no "stream" field', async () => {
    const res = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'parley-echo', messages }) });
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length > 5);
    assert.equal(lines.at(-1).done, true);
    assert.ok(lines.slice(0, -1).every((l) => l.done === false));
  });

  test('options.num_predict caps the reply with done_reason length', async () => {
    const res = await ollama.chat({ model: 'parley-echo', messages, options: { num_predict: 4 } });
    assert.equal(res.done_reason, 'length');
    assert.equal(res.eval_count, 4);
    assert.equal(res.message.content.split(' ').length, 4);
  });

  const tools = [
    {
      type: 'function',
      function: {
        name: 'lookup',
        description: 'Look something up',
        parameters: { type: 'object', required: ['query'], properties: { query: { type: 'string' }, exact: { type: 'boolean' } } },
      },
    },
  ];

  test('offered tools get message.tool_calls with object arguments, whole in one chunk', async () => {
    const parts = await ollama.chat({ model: 'parley-echo', messages, tools, stream: true });
    const withCalls = [];
    let last;
    for await (const part of parts) {
      if (part.message.tool_calls) withCalls.push(part);
      last = part;
    }
    assert.equal(withCalls.length, 1);
    assert.deepEqual(withCalls[0]!.message.tool_calls, [{ function: { name: 'lookup', arguments: { query: 'Tell me about llamas', exact: true } } }]);
    assert.equal(last?.done, true);
  });

  test('a role:tool message comes back into the reply text', async () => {
    const first = await ollama.chat({ model: 'parley-echo', messages, tools });
    const res = await ollama.chat({
      model: 'parley-echo',
      tools,
      messages: [...messages, first.message, { role: 'tool', content: 'Llamas are camelids from South America' }],
    });
    assert.match(res.message.content, /The lookup tool returned: Llamas are camelids from South America/);
  });

  test('think: true streams message.thinking before the content', async () => {
    const parts = await ollama.chat({ model: 'parley-echo', messages, think: true, stream: true });
    let thinking = '';
    let content = '';
    for await (const part of parts) {
      if (part.message.thinking) {
        assert.equal(content, '', 'thinking comes first');
        thinking += part.message.thinking;
      }
      content += part.message.content;
    }
    assert.match(thinking, /Tell me about llamas/);
    assert.ok(content.length > 0);
    const whole = await ollama.chat({ model: 'parley-echo', messages, think: true });
    assert.equal(whole.message.thinking, thinking);
  });

  test('list(), version() and GET / answer like Ollama', async () => {
    const tags = await ollama.list();
    assert.deepEqual(
      tags.models.map((m) => m.name),
      ['parley-echo', 'parley-small'],
    );
    assert.equal(tags.models[0]!.details.format, 'gguf');
    assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+$/);
    const root = await fetch(server.url);
    assert.equal(await root.text(), 'Ollama is running');
  });

  test('a request without a model gets 400 {"error": ...}', async () => {
    await assert.rejects(ollama.chat({ model: '', messages }), (err: unknown) => {
      const e = err as { name: string; status_code: number; error: string };
      return e.name === 'ResponseError' && e.status_code === 400 && e.error === 'model is required';
    });
  });
});
