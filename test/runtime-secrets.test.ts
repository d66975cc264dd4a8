/**
 * No API key ever appears in an error (message, stack, cause, JSON), in
 * health() or in stats(), even when the provider echoes the key back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRuntime, ParleyError } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { PROTOCOLS, TEST_RUNTIME_DEFAULTS, ask, providersFor, rejectsWith, streamFailure } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

test('the API key never appears in errors, their JSON, stacks, causes, health or stats', async () => {
  const key = 'sk-test-SECRET-abcdef123456';
  const server = await startModelServer();
  const rt = await createRuntime({ workers: testWorkers, providers: providersFor(server, key), ...TEST_RUNTIME_DEFAULTS, maxRetries: 0 });
  const texts: string[] = [];
  const keep = (err: unknown) => {
    assert.ok(err instanceof ParleyError);
    texts.push(err.message, String(err.stack), JSON.stringify(err));
    for (let c: unknown = err.cause; c instanceof Error; c = c.cause) texts.push(c.message, String(c.stack));
  };
  try {
    for (const provider of PROTOCOLS) {
      // A provider that echoes the key it was sent, as some do in a 401.
      server.injectFault({ kind: 'status', status: 401, message: `Incorrect API key provided: ${key}` }, 2);
      keep(await rejectsWith(rt.chat(ask('a', { provider })), 'HTTP'));
      keep((await streamFailure(() => rt.stream(ask('a', { provider })))).error);
      server.injectFault({ kind: 'stream-error', message: `bad key ${key}` });
      keep((await streamFailure(() => rt.stream(ask('a', { provider })))).error);
    }
    // The server did receive the key: it is the runtime that keeps it in.
    assert.ok(server.requests.some((r) => JSON.stringify(r.headers).includes(key)));
    await server.refuse(true);
    texts.push(JSON.stringify(await rt.health()));
    texts.push(JSON.stringify(await rt.stats()));
    for (const text of texts) assert.ok(!text.includes(key), `leaked in: ${text.slice(0, 300)}`);
    assert.ok(texts.some((t) => t.includes('Incorrect API key provided')), 'the provider message itself is kept');
  } finally {
    await rt.shutdown();
    await server.close();
  }
});
