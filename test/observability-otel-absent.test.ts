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
    // @opentelemetry/api would load as CommonJS (its "default" export) into the cache read here.
    // That such a load shows there at all is checked with a CommonJS package that is not in question.
    await import('partial-json');
    const loaded = Object.keys(createRequire(import.meta.url).cache);
    assert.ok(
      loaded.some((path) => path.includes('partial-json')),
      'a CommonJS package loaded by import() is visible in the module cache from here',
    );
    assert.deepEqual(loaded.filter((path) => path.includes('@opentelemetry')), []);
  } finally {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  }
});
