/**
 * createRuntime resolves once its workers have loaded, so the first call's
 * deadline is not spent on start-up; a worker that cannot start makes
 * createRuntime reject, with nothing left running.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRuntime, ParleyError } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { defaultWorkerEntry } from './helpers/checkout.ts';

const slowEntry = fileURLToPath(new URL('./fixtures/startup/slow-worker.mjs', import.meta.url));
const brokenEntry = fileURLToPath(new URL('./fixtures/startup/broken-worker.mjs', import.meta.url));
const oneThreadLostEntry = fileURLToPath(new URL('./fixtures/startup/one-thread-lost.cjs', import.meta.url));
/** Far longer than the first call's deadline below: a call that paid for start-up would time out. */
const LOAD_MS = 3_000;
const FIRST_CALL_TIMEOUT_MS = 1_500;

let server: ModelServer;
before(async () => {
  server = await startModelServer();
  process.env.PARLEY_TEST_LOAD_MS = String(LOAD_MS);
  process.env.PARLEY_TEST_REAL_ENTRY = pathToFileURL(defaultWorkerEntry()).href;
  process.env.PARLEY_TEST_REAL_ENTRY_PATH = defaultWorkerEntry();
});
after(() => server.close());

for (const workers of [1, 2]) {
  describe(`start-up (workers: ${workers})`, { timeout: 120_000 }, () => {
    test('createRuntime resolves once every worker has loaded: the first call does not pay for start-up', async () => {
      const rt = await createRuntime({ workers, workerEntry: slowEntry, providers: { local: { kind: 'openai', baseUrl: `${server.url}/v1` } } });
      try {
        const stats = await rt.stats();
        assert.equal(stats.workers.length, workers, 'every worker answers at once');
        const reply = await rt.chat({ model: 'm', messages: [{ role: 'user', content: 'first' }] }, { timeoutMs: FIRST_CALL_TIMEOUT_MS });
        assert.ok(reply.content.length > 0);
      } finally {
        const report = await rt.shutdown();
        assert.equal(report.forced, false);
      }
    });

    test('a worker entry that cannot load: createRuntime rejects with WORKER_CRASHED saying why', async () => {
      const err = await createRuntime({
        workers,
        workerEntry: brokenEntry,
        restart: { maxRestarts: 1, backoffBaseMs: 10 },
        providers: { local: { kind: 'openai', baseUrl: `${server.url}/v1` } },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
      assert.equal(err.code, 'WORKER_CRASHED');
      assert.match(err.message, /could not start: .*broken on purpose/);
    });

    test('under the default restart policy, a worker entry that cannot load still makes createRuntime reject', async () => {
      // Piscina stops replacing a pool's threads once a replacement dies while
      // loading: the pool is started anew until the restart intensity is spent.
      const err = await createRuntime({
        workers,
        workerEntry: brokenEntry,
        providers: { local: { kind: 'openai', baseUrl: `${server.url}/v1` } },
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
      assert.equal(err.code, 'WORKER_CRASHED');
      assert.match(err.message, /could not start: .*broken on purpose/);
    });
  });
}

test('a pool that piscina leaves one thread short while it starts: createRuntime resolves with the thread it has, which serves', { timeout: 120_000 }, async () => {
  const slots = mkdtempSync(join(tmpdir(), 'parley-slots-'));
  process.env.PARLEY_TEST_SLOTS_DIR = slots;
  try {
    const rt = await createRuntime({ workers: 2, workerEntry: oneThreadLostEntry, providers: { local: { kind: 'openai', baseUrl: `${server.url}/v1` } } });
    try {
      assert.equal(readdirSync(slots).length, 3, 'two threads died while loading, one loaded');
      assert.equal((await rt.stats()).workers.length, 1);
      const reply = await rt.chat({ model: 'm', messages: [{ role: 'user', content: 'one thread' }] });
      assert.ok(reply.content.length > 0);
    } finally {
      const report = await rt.shutdown();
      assert.equal(report.forced, false);
    }
  } finally {
    rmSync(slots, { recursive: true, force: true });
  }
});
