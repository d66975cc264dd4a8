/**
 * Provider quirks that break real requests: OpenAI's reasoning models refuse
 * max_tokens, some OpenAI-compatible servers refuse stream_options, Ollama's
 * `options` must survive `extra`, and Ollama's numCtx / keepAlive are config.
 * Each over real HTTP against the embedded model server, which refuses as
 * the real servers do.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ask, CHAT_PATHS, collect, rejectsWith, textOf, withStack } from './helpers/fixtures.ts';
import type { ModelServer } from '../src/testing/index.ts';
import { OpenAIAdapter } from '../src/provider/protocols/openai-adapter.ts';
import { providerFigure } from './helpers/workers-mode.ts';

function chatBodies(server: ModelServer, path: string): Record<string, unknown>[] {
  return server.requests.filter((r) => r.method === 'POST' && r.path === path).map((r) => r.body as Record<string, unknown>);
}

describe('max_tokens and max_completion_tokens', () => {
  test('a server that refuses max_tokens for a reasoning model answers 400 HTTP; maxTokensField "max_completion_tokens" sends the field it takes', async () => {
    await withStack(
      { reasoningModels: ['o4-mini'] },
      (server) => ({
        providers: {
          compat: { kind: 'openai', baseUrl: `${server.url}/v1` },
          reasoning: { kind: 'openai', baseUrl: `${server.url}/v1`, maxTokensField: 'max_completion_tokens' },
        },
      }),
      async ({ rt, server }) => {
        const refused = await rejectsWith(rt.chat(ask('Hi', { provider: 'compat', model: 'o4-mini', maxTokens: 20 })), 'HTTP');
        assert.equal(refused.status, 400);
        assert.match(refused.message, /max_completion_tokens/);
        const result = await rt.chat(ask('Hi', { provider: 'reasoning', model: 'o4-mini', maxTokens: 3 }));
        assert.equal(result.finishReason, 'length', 'the cap reached the server under its other name');
        const body = chatBodies(server, CHAT_PATHS.openai).at(-1)!;
        assert.equal(body.max_completion_tokens, 3);
        assert.equal('max_tokens' in body, false);
      },
    );
  });
});

describe('max_tokens on api.openai.com', () => {
  test('the adapter sends max_completion_tokens to api.openai.com and max_tokens elsewhere (no request leaves: the adapter is pure)', () => {
    const req = { model: 'gpt-5', messages: [{ role: 'user' as const, content: 'Hi' }], maxTokens: 10 };
    const official = new OpenAIAdapter({ name: 'openai', config: { kind: 'openai', baseUrl: 'https://api.openai.com/v1' } });
    const body = JSON.parse(official.chatRequest(req, false).body!) as Record<string, unknown>;
    assert.equal(body.max_completion_tokens, 10);
    assert.equal('max_tokens' in body, false);
    const other = new OpenAIAdapter({ name: 'vllm', config: { kind: 'openai', baseUrl: 'http://10.0.0.2:8000/v1' } });
    assert.equal((JSON.parse(other.chatRequest(req, false).body!) as Record<string, unknown>).max_tokens, 10);
  });
});

describe('stream_options', () => {
  for (const status of [400, 422] as const) {
    test(`a stream refused with ${status} naming stream_options is sent once more without it, and the provider is remembered`, async () => {
      await withStack({ refuseStreamOptions: status }, () => ({}), async ({ rt, server }) => {
        const first = await collect(rt.stream(ask('Hello there', { provider: 'openai' })));
        assert.equal(first.error, undefined);
        assert.match(textOf(first.events), /Hello there/);
        const bodies = chatBodies(server, CHAT_PATHS.openai);
        assert.equal(bodies.length, 2, 'the refused request and its one retry');
        assert.deepEqual(bodies[0]!.stream_options, { include_usage: true });
        assert.equal('stream_options' in bodies[1]!, false);
        assert.ok(providerFigure(await rt.stats(), 'openai', 'retries') >= 1, 'the second attempt counts as a retry');
        // Later streams on this worker go without it at once. In pool mode
        // another thread may learn it for itself, with one refusal of its own.
        const second = await collect(rt.stream(ask('Again', { provider: 'openai' })));
        assert.equal(second.error, undefined);
        const after = chatBodies(server, CHAT_PATHS.openai).slice(2);
        assert.equal('stream_options' in after.at(-1)!, false);
      });
    });
  }

  test('streamOptions: false never sends the field; a refusal with streamOptions: true is final', async () => {
    await withStack(
      { refuseStreamOptions: 422 },
      (server) => ({
        providers: {
          off: { kind: 'openai', baseUrl: `${server.url}/v1`, streamOptions: false },
          on: { kind: 'openai', baseUrl: `${server.url}/v1`, streamOptions: true },
        },
      }),
      async ({ rt, server }) => {
        const off = await collect(rt.stream(ask('Hi', { provider: 'off' })));
        assert.equal(off.error, undefined);
        assert.equal(chatBodies(server, CHAT_PATHS.openai).length, 1);
        assert.equal('stream_options' in chatBodies(server, CHAT_PATHS.openai)[0]!, false);
        const on = await collect(rt.stream(ask('Hi', { provider: 'on' })));
        assert.equal((on.error as { code?: string }).code, 'HTTP');
        assert.equal((on.error as { status?: number }).status, 422);
        assert.equal(chatBodies(server, CHAT_PATHS.openai).length, 2, 'no retry when the config asked for the field');
      },
    );
  });
});

describe('extra is merged deeply', () => {
  test('Ollama extra.options keeps the options parley built; numCtx and keepAlive come from the provider config', async () => {
    await withStack(
      {},
      (server) => ({ providers: { ollama: { kind: 'ollama', baseUrl: server.url, numCtx: 8192, keepAlive: '10m', options: { num_gpu: 99, temperature: 1 } } } }),
      async ({ rt, server }) => {
        await rt.chat(ask('Hi', { provider: 'ollama', temperature: 0.2, maxTokens: 30, extra: { options: { top_k: 40 }, keep_alive: -1 } }));
        const body = chatBodies(server, CHAT_PATHS.ollama).at(-1)!;
        assert.deepEqual(body.options, { num_gpu: 99, temperature: 0.2, num_predict: 30, num_ctx: 8192, top_k: 40 }, "the config's options lie below the request's");
        assert.equal(body.keep_alive, -1, 'extra replaces a value that is not an object');
        await rt.chat(ask('Hi', { provider: 'ollama', extra: { options: { num_ctx: 2048 } } }));
        const second = chatBodies(server, CHAT_PATHS.ollama).at(-1)!;
        assert.deepEqual(second.options, { num_gpu: 99, temperature: 1, num_ctx: 2048 }, 'a request’s extra wins over the config');
        assert.equal(second.keep_alive, '10m');
      },
    );
  });

  test('OpenAI and Anthropic: objects merge key by key, arrays and scalars replace', async () => {
    await withStack({}, () => ({}), async ({ rt, server }) => {
      await rt.chat(ask('Hi', { provider: 'openai', stop: ['a'], extra: { stop: ['b'], metadata: { run: '1' } } }));
      const openai = chatBodies(server, CHAT_PATHS.openai).at(-1)!;
      assert.deepEqual(openai.stop, ['b']);
      assert.deepEqual(openai.metadata, { run: '1' });
      await rt.chat(ask('Hi', { provider: 'anthropic', reasoning: { budgetTokens: 2048 }, extra: { thinking: { budget_tokens: 3000 } } }));
      const anthropic = chatBodies(server, CHAT_PATHS.anthropic).at(-1)!;
      assert.deepEqual(anthropic.thinking, { type: 'enabled', budget_tokens: 3000 });
    });
  });
});

describe('provider settings at the door', () => {
  test('bad numCtx, keepAlive, maxTokensField, streamOptions and structuredOutput are CONFIG naming the field', async () => {
    const { createRuntime } = await import('../src/index.ts');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kind: 'ollama', numCtx: 0 }, /providers\.p\.numCtx/],
      [{ kind: 'ollama', keepAlive: 'forever' }, /providers\.p\.keepAlive/],
      [{ kind: 'ollama', options: { num_gpu: { n: 1 } } }, /providers\.p\.options\.num_gpu/],
      [{ kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', maxTokensField: 'max' }, /providers\.p\.maxTokensField/],
      [{ kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1', streamOptions: 'no' }, /providers\.p\.streamOptions/],
      [{ kind: 'anthropic', apiKey: 'k', structuredOutput: 'json' }, /providers\.p\.structuredOutput/],
      [{ kind: 'ollama', streamOptions: false }, /streamOptions/],
    ];
    for (const [config, message] of cases) {
      await assert.rejects(createRuntime({ providers: { p: config as never } }), (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'CONFIG');
        assert.match(err.message, message);
        return true;
      });
    }
  });
});
