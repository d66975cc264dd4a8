/**
 * providersFromEnv(): which variables define which provider, OLLAMA_HOST
 * without a scheme, Gemini through its OpenAI-compatible URL, and Anthropic's
 * auth token sent as a Bearer header to ANTHROPIC_BASE_URL (a real runtime
 * against the model server).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, providersFromEnv, redactSecrets, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, rejectsWith } from './helpers/fixtures.ts';

describe('providersFromEnv() mapping', () => {
  test('an empty environment configures nothing; empty strings count as unset', () => {
    assert.deepEqual(providersFromEnv({}), {});
    assert.deepEqual(providersFromEnv({ OPENAI_API_KEY: '', ANTHROPIC_API_KEY: ' ', OLLAMA_HOST: '' }), {});
  });

  test('every variable, in the documented order and shape', () => {
    const providers = providersFromEnv({
      GEMINI_API_KEY: 'gm-key',
      ANTHROPIC_API_KEY: 'sk-ant-key',
      ANTHROPIC_BASE_URL: 'https://gateway.example/anthropic',
      OPENROUTER_API_KEY: 'sk-or-key',
      OPENAI_API_KEY: 'sk-openai-key',
      OPENAI_BASE_URL: 'https://proxy.example/v1',
      OLLAMA_HOST: 'http://ollama.example:8080',
      UNRELATED: 'x',
    });
    assert.deepEqual(Object.keys(providers), ['ollama', 'openai', 'openrouter', 'anthropic', 'gemini']);
    assert.deepEqual(providers.ollama, { kind: 'ollama', baseUrl: 'http://ollama.example:8080' });
    assert.deepEqual(providers.openai, { kind: 'openai', baseUrl: 'https://proxy.example/v1', apiKey: 'sk-openai-key' });
    assert.deepEqual(providers.openrouter, { kind: 'openai', baseUrl: 'https://openrouter.ai/api/v1', apiKey: 'sk-or-key' });
    assert.deepEqual(providers.anthropic, { kind: 'anthropic', apiKey: 'sk-ant-key', baseUrl: 'https://gateway.example/anthropic' });
    assert.deepEqual(providers.gemini, { kind: 'openai', baseUrl: 'https://generativelanguage.googleapis.com/v1beta/openai/', apiKey: 'gm-key' });
  });

  test('OPENAI_API_KEY alone means api.openai.com; OPENAI_BASE_URL alone is a keyless local server', () => {
    assert.deepEqual(providersFromEnv({ OPENAI_API_KEY: 'sk-1' }).openai, { kind: 'openai', baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-1' });
    assert.deepEqual(providersFromEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:1234/v1' }).openai, { kind: 'openai', baseUrl: 'http://127.0.0.1:1234/v1' });
  });

  test('OLLAMA_HOST as Ollama reads it: host:port, host, :port and 0.0.0.0 without a scheme', () => {
    const url = (host: string) => providersFromEnv({ OLLAMA_HOST: host }).ollama?.baseUrl;
    assert.equal(url('127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(url('gpu-box'), 'http://gpu-box:11434');
    assert.equal(url(':9999'), 'http://127.0.0.1:9999');
    assert.equal(url('0.0.0.0'), 'http://127.0.0.1:11434');
    assert.equal(url('0.0.0.0:11434'), 'http://127.0.0.1:11434');
    // A bare IPv6 address is a host; a scheme alone is Ollama's default host and port.
    assert.equal(url('::1'), 'http://[::1]:11434');
    assert.equal(url('[::1]:8080'), 'http://[::1]:8080');
    assert.equal(url('http://'), 'http://127.0.0.1:11434');
    assert.equal(url('https://ollama.example'), 'https://ollama.example');
    assert.equal(url('http://localhost:11434/'), 'http://localhost:11434');
  });

  test('Anthropic: the auth token alone is an authToken; with a key too, the key wins (as in its SDK); the base URL alone is nothing', () => {
    assert.deepEqual(providersFromEnv({ ANTHROPIC_AUTH_TOKEN: 'tok-1' }).anthropic, { kind: 'anthropic', authToken: 'tok-1' });
    assert.deepEqual(providersFromEnv({ ANTHROPIC_AUTH_TOKEN: 'tok-1', ANTHROPIC_API_KEY: 'key-1' }).anthropic, { kind: 'anthropic', apiKey: 'key-1' });
    assert.deepEqual(providersFromEnv({ ANTHROPIC_BASE_URL: 'https://gateway.example' }), {});
  });

  test('what it returns is accepted by createRuntime as it is', async () => {
    const providers = providersFromEnv({ OPENAI_API_KEY: 'sk-a', ANTHROPIC_AUTH_TOKEN: 'tok-b', GEMINI_API_KEY: 'gm-c', OLLAMA_HOST: 'localhost:1', OPENROUTER_API_KEY: 'or-d' });
    const rt = await createRuntime({ providers, ...TEST_RUNTIME_DEFAULTS });
    await rt.shutdown({ graceMs: 100 });
  });
});

describe('Anthropic authToken', () => {
  const TOKEN = 'anthropic-gateway-token-0123456789';
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    server = await startModelServer();
    const providers = providersFromEnv({ ANTHROPIC_AUTH_TOKEN: TOKEN, ANTHROPIC_BASE_URL: server.url });
    rt = await createRuntime({ providers, ...TEST_RUNTIME_DEFAULTS });
  });
  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  });

  test('is sent as Authorization: Bearer to ANTHROPIC_BASE_URL, with no x-api-key', async () => {
    const result = await rt.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'through the gateway' }] });
    assert.match(result.content, /through the gateway/);
    const sent = server.requests.find((r) => r.method === 'POST' && r.path === '/v1/messages');
    assert.ok(sent, 'the model server saw the Messages call');
    assert.equal(sent.headers.authorization, `Bearer ${TOKEN}`);
    assert.equal(sent.headers['x-api-key'], undefined);
  });

  test('is a secret: redacted like a key', () => {
    const providers = providersFromEnv({ ANTHROPIC_AUTH_TOKEN: TOKEN });
    assert.equal(redactSecrets(`sent Bearer ${TOKEN} upstream`, providers), 'sent Bearer [redacted] upstream');
  });

  test('createRuntime refuses an anthropic provider with neither, or both, with CONFIG naming the field', async () => {
    assert.match((await rejectsWith(createRuntime({ providers: { a: { kind: 'anthropic' } } }), 'CONFIG')).message, /providers\.a\.apiKey \(or authToken\) is required/);
    assert.match((await rejectsWith(createRuntime({ providers: { a: { kind: 'anthropic', apiKey: 'k-1', authToken: 't-1' } } }), 'CONFIG')).message, /providers\.a has both apiKey .* and authToken/);
    assert.match((await rejectsWith(createRuntime({ providers: { a: { kind: 'anthropic', authToken: 'bad\ntoken' } } }), 'CONFIG')).message, /providers\.a\.authToken contains a line break/);
  });
});
