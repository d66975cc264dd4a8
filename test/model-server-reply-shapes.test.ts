/**
 * The embedded model server's switchable shapes (refusals, Mistral-style
 * content arrays), read by parley through its workers: what a host using the
 * server for its own tests gets back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type ChatResult, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { testWorkers } from './helpers/workers-mode.ts';

describe(`the embedded model server's switchable shapes, read by parley (workers: ${testWorkers})`, { timeout: 60_000 }, () => {
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    server = await startModelServer({ tools: 'never' });
    rt = await createRuntime({
      workers: testWorkers,
      timeoutMs: 10_000,
      providers: {
        openai: { kind: 'openai', baseUrl: `${server.url}/v1` },
        anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'test-key' },
        ollama: { kind: 'ollama', baseUrl: server.url },
      },
    });
  });
  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  });
  const both = async (provider: string) => {
    const req = { provider, model: 'parley-echo', messages: [{ role: 'user' as const, content: 'hi' }] };
    let streamed: ChatResult | undefined;
    for await (const event of rt.stream(req)) if (event.type === 'done') streamed = event.result;
    return [await rt.chat(req), streamed!];
  };

  test("refusal: openai and anthropic give finishReason 'refusal' (OpenAI with the refusal text); Ollama has no refusal and gives text", async () => {
    server.setOptions({ refusal: true });
    try {
      for (const r of await both('openai')) {
        assert.equal(r.finishReason, 'refusal');
        assert.match(r.refusal ?? '', /can't help/);
        assert.equal(r.content, '');
      }
      for (const r of await both('anthropic')) {
        assert.equal(r.finishReason, 'refusal');
        assert.equal(r.rawFinishReason, 'refusal');
        assert.match(r.content, /can't help/);
      }
      for (const r of await both('ollama')) assert.equal(r.finishReason, 'stop');
    } finally {
      server.setOptions({ refusal: false });
    }
  });

  test('contentArrays: thinking and text parts become reasoning and content', async () => {
    server.setOptions({ contentArrays: true, reasoning: true });
    try {
      for (const r of await both('openai')) {
        assert.match(r.reasoning ?? '', /The user wrote "hi"/);
        assert.match(r.content, /"hi"/);
      }
    } finally {
      server.setOptions({ contentArrays: false, reasoning: false });
    }
  });
});
