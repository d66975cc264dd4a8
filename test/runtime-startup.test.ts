/**
 * createRuntime resolves once its workers have loaded, so the first call's
 * deadline is not spent on start-up; a worker that cannot start makes
 * createRuntime reject, with nothing left running.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRuntime, ParleyError } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { defaultWorkerEntry } from './helpers/checkout.ts';

const slowEntry = fileURLToPath(new URL('./fixtures/startup/slow-worker.mjs', import.meta.url));
const brokenEntry = fileURLToPath(new URL('./fixtures/startup/broken-worker.mjs', import.meta.url));
/** Far longer than the first call's deadline below: a call that paid for start-up would time out. */
const LOAD_MS = 3_000;
const FIRST_CALL_TIMEOUT_MS = 1_500;

let server: ModelServer;
before(async () => {
  server = await startModelServer();
  process.env.PARLEY_TEST_LOAD_MS = String(LOAD_MS);
  process.env.PARLEY_TEST_REAL_ENTRY = pathToFileURL(defaultWorkerEntry()).href;
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
  });
}
