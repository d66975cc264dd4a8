import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { createRuntime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS, ask } from './helpers/fixtures.ts';

const linux = process.platform === 'linux';

describe('workerNice: the provider workers yield the CPU to the host thread', { skip: linux ? false : 'thread priorities are set on Linux only' }, () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer();
  });
  after(() => server.close());

  const providers = () => ({ local: { kind: 'ollama' as const, baseUrl: server.url } });

  test('by default the worker keeps the host thread’s priority', async () => {
    const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providers() });
    try {
      await rt.chat(ask('hello'));
      const [worker] = (await rt.stats()).workers;
      assert.equal(worker?.nice, getPriority(process.pid));
      assert.equal(worker?.niceError, undefined);
    } finally {
      await rt.shutdown();
    }
  });

  for (const workers of [1, 2]) {
    test(`workerNice: 7 lowers every worker thread (workers: ${workers}), not the host, and calls work as before`, async () => {
      const hostBefore = getPriority(process.pid);
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providers(), workers, workerNice: 7 });
      try {
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => rt.chat(ask(`hello ${i}`))));
        assert.ok(results.every((r) => r.content.length > 0));
        const stats = await rt.stats();
        assert.equal(stats.workers.length, workers);
        for (const w of stats.workers) {
          assert.equal(w.nice, 7, `worker ${w.workerId} runs at nice 7`);
          assert.equal(w.niceError, undefined);
        }
        // The host thread is the process's main task: untouched.
        assert.equal(getPriority(process.pid), hostBefore);
      } finally {
        await rt.shutdown();
      }
    });
  }
});
