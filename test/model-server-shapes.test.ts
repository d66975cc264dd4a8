/**
 * The model server's newer shapes, driven by the official SDKs (openai,
 * @anthropic-ai/sdk, ollama) so they are checked against what real clients
 * send and accept, independently of parley's own parsers: image and
 * document input, refusals, content arrays, and Anthropic's thinking rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';

function png(size: number): Buffer {
  const bytes = Buffer.alloc(size, 1);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes;
}

describe('model server shapes through the official SDKs', () => {
  let server: ModelServer;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let ollama: Ollama;
  before(async () => {
    server = await startModelServer();
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'test', maxRetries: 0 });
    anthropic = new Anthropic({ baseURL: server.url, apiKey: 'test', maxRetries: 0 });
    ollama = new Ollama({ host: server.url });
  });
  after(() => server.close());

  const image = png(1234).toString('base64');

  test('images: the reply says how many images of what size it saw, on all three protocols', async () => {
    const oa = await openai.chat.completions.create({
      model: 'parley-echo',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${image}` } }] }],
    });
    assert.match(oa.choices[0]!.message.content ?? '', /I see 1 image \(image\/png, 1234 bytes\)/);
    const an = await anthropic.messages.create({
      model: 'parley-echo',
      max_tokens: 256,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: image } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/b.png' } },
          ],
        },
      ],
    });
    assert.match((an.content[0] as { text: string }).text, /I see 2 images \(image\/png, 1234 bytes; a URL image https:\/\/example\.com\/b\.png\)/);
    const ol = await ollama.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'What is this?', images: [png(999)] }] });
    assert.match(ol.message.content, /I see 1 image \(image\/png, 999 bytes\)/);
  });

  test('images whose bytes are not the declared media type are a 400, as Anthropic answers', async () => {
    await assert.rejects(
      anthropic.messages.create({
        model: 'parley-echo',
        max_tokens: 256,
        messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/gif', data: image } }] }],
      }),
      (err: InstanceType<typeof Anthropic.APIError>) => err.status === 400 && /does not match the provided media type/.test(err.message),
    );
  });

  test('refusal: OpenAI sends refusal with content null (chat and stream); Anthropic stop_reason refusal', async () => {
    server.setOptions({ refusal: true });
    try {
      const whole = await openai.chat.completions.create({ model: 'parley-echo', messages: [{ role: 'user', content: 'Do something bad' }] });
      assert.equal(whole.choices[0]!.message.content, null);
      assert.match(whole.choices[0]!.message.refusal ?? '', /can't help/);
      let refusal = '';
      for await (const chunk of await openai.chat.completions.create({ model: 'parley-echo', messages: [{ role: 'user', content: 'Do something bad' }], stream: true })) {
        refusal += chunk.choices[0]?.delta.refusal ?? '';
        assert.equal(chunk.choices[0]?.delta.content ?? '', '');
      }
      assert.equal(refusal, whole.choices[0]!.message.refusal);
      const an = await anthropic.messages.create({ model: 'parley-echo', max_tokens: 256, messages: [{ role: 'user', content: 'Do something bad' }] });
      assert.equal(an.stop_reason, 'refusal');
    } finally {
      server.setOptions({ refusal: false });
    }
  });

  test('contentArrays: content is an array of thinking and text parts, as Mistral sends it', async () => {
    server.setOptions({ contentArrays: true, reasoning: true });
    try {
      const whole = await openai.chat.completions.create({ model: 'parley-echo', messages: [{ role: 'user', content: 'Think first' }] });
      const content = whole.choices[0]!.message.content as unknown as { type: string }[];
      assert.deepEqual(content.map((p) => p.type), ['thinking', 'text']);
      const kinds = new Set<string>();
      for await (const chunk of await openai.chat.completions.create({ model: 'parley-echo', messages: [{ role: 'user', content: 'Think first' }], stream: true })) {
        const parts = chunk.choices[0]?.delta.content as unknown;
        if (Array.isArray(parts)) for (const p of parts as { type: string }[]) kinds.add(p.type);
      }
      assert.deepEqual([...kinds].sort(), ['text', 'thinking']);
    } finally {
      server.setOptions({ contentArrays: false, reasoning: false });
    }
  });

  test("Anthropic's thinking rule: the tool-call turn must come back starting with its signed thinking block", async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
    const thinking = { type: 'enabled' as const, budget_tokens: 1024 };
    const ask = { role: 'user' as const, content: 'Weather in Paris?' };
    const call = await anthropic.messages.create({ model: 'parley-echo', max_tokens: 2048, thinking, tools, messages: [ask] });
    assert.deepEqual(call.content.map((b) => b.type), ['thinking', 'tool_use']);
    const toolUse = call.content[1] as { id: string };
    const result = { role: 'user' as const, content: [{ type: 'tool_result' as const, tool_use_id: toolUse.id, content: 'Sunny' }] };
    const withThinking = await anthropic.messages.create({
      model: 'parley-echo',
      max_tokens: 2048,
      thinking,
      tools,
      messages: [ask, { role: 'assistant', content: call.content as Anthropic.ContentBlockParam[] }, result],
    });
    assert.equal(withThinking.stop_reason, 'end_turn');
    await assert.rejects(
      anthropic.messages.create({
        model: 'parley-echo',
        max_tokens: 2048,
        thinking,
        tools,
        messages: [ask, { role: 'assistant', content: [call.content[1] as Anthropic.ContentBlockParam] }, result],
      }),
      (err: InstanceType<typeof Anthropic.APIError>) => err.status === 400 && /must start with a thinking block/.test(err.message),
    );
  });
});
