import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { createRuntime } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { ask, providersFor, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

test('with no tracer or meter provider registered, @opentelemetry/api is never loaded', async () => {
  const server = await startModelServer();
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providersFor(server) });
  try {
    await rt.chat(ask('unobserved'));
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    assert.ok(loaded.length > 0, 'the module cache is visible from here');
    assert.deepEqual(loaded.filter((path) => path.includes('@opentelemetry')), []);
  } finally {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  }
});
