/**
 * The model server's own reading of request controls, over raw HTTP (no
 * parley client in between): it refuses max_tokens for configured reasoning
 * models and stream_options when told, as real servers do, honours
 * tool_choice, and answers a request for JSON with JSON that fits the schema.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';

describe('model server: request controls', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer({ reasoningModels: ['o3'], tools: 'never' });
  });
  after(() => server.close());

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const messages = [{ role: 'user', content: 'Lyon' }];

  test('max_tokens to a reasoning model is a 400 naming max_completion_tokens; max_completion_tokens is taken', async () => {
    const refused = await post('/v1/chat/completions', { model: 'o3', messages, max_tokens: 5 });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /max_completion_tokens/);
    const ok = await post('/v1/chat/completions', { model: 'o3', messages, max_completion_tokens: 2 });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.choices[0].finish_reason, 'length');
  });

  test('refuseStreamOptions answers the status it was given, naming the field', async () => {
    server.setOptions({ refuseStreamOptions: 422 });
    try {
      const refused = await post('/v1/chat/completions', { model: 'parley-echo', messages, stream: true, stream_options: { include_usage: true } });
      assert.equal(refused.status, 422);
      assert.match(refused.body.error.message, /stream_options/);
    } finally {
      server.setOptions({ refuseStreamOptions: undefined });
    }
  });

  test('tool_choice: a named tool is called, an unknown one is a 400, none answers in text', async () => {
    const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }];
    const named = await post('/v1/chat/completions', { model: 'parley-echo', messages, tools, tool_choice: { type: 'function', function: { name: 'lookup' } } });
    assert.equal(named.body.choices[0].message.tool_calls[0].function.name, 'lookup');
    const unknown = await post('/v1/chat/completions', { model: 'parley-echo', messages, tools, tool_choice: { type: 'function', function: { name: 'nope' } } });
    assert.equal(unknown.status, 400);
    const anthropic = await post('/v1/messages', { model: 'parley-echo', max_tokens: 100, messages, tools: [{ name: 'lookup', input_schema: {} }], tool_choice: { type: 'none' } }, { 'anthropic-version': '2023-06-01' });
    assert.equal(anthropic.body.content[0].type, 'text');
  });

  test('a schema in response_format / format / output_config.format gets JSON that fits it; invalidJson breaks it', async () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, rank: { type: 'integer' }, tags: { type: 'array' } }, required: ['city'] };
    const openai = await post('/v1/chat/completions', { model: 'parley-echo', messages, response_format: { type: 'json_schema', json_schema: { name: 'c', schema } } });
    assert.deepEqual(JSON.parse(openai.body.choices[0].message.content), { city: 'Lyon', rank: 1, tags: [] });
    const ollama = await post('/api/chat', { model: 'parley-echo', messages, stream: false, format: schema });
    assert.deepEqual(JSON.parse(ollama.body.message.content), { city: 'Lyon', rank: 1, tags: [] });
    const anthropic = await post('/v1/messages', { model: 'parley-echo', max_tokens: 100, messages, output_config: { format: { type: 'json_schema', schema } } }, { 'anthropic-version': '2023-06-01' });
    assert.deepEqual(JSON.parse(anthropic.body.content[0].text), { city: 'Lyon', rank: 1, tags: [] });
    server.setOptions({ invalidJson: true });
    try {
      const broken = await post('/api/chat', { model: 'parley-echo', messages, stream: false, format: 'json' });
      assert.throws(() => JSON.parse(broken.body.message.content));
    } finally {
      server.setOptions({ invalidJson: false });
    }
  });
});

describe('model server: request-control flags of serve', () => {
  test('parseServeArgs() reads --invalid-json, --reasoning-models and --refuse-stream-options, and refuses a bad status', async () => {
    const { parseServeArgs } = await import('../src/testing/index.ts');
    assert.deepEqual(parseServeArgs(['--invalid-json', '--reasoning-models', 'o3, gpt-5', '--refuse-stream-options=422']), {
      invalidJson: true,
      reasoningModels: ['o3', 'gpt-5'],
      refuseStreamOptions: 422,
    });
    assert.throws(() => parseServeArgs(['--refuse-stream-options', '500']), /--refuse-stream-options/);
  });
});
