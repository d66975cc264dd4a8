/**
 * Memory: a large response never takes the host process down. With a worker
 * heap limit (resourceLimits.maxOldGenerationSizeMb), the response size cap
 * is fitted to it at the door, so a reply too large for the worker's heap is
 * TOO_LARGE; a cap that cannot fit is CONFIG. A worker that runs out of
 * memory anyway is a crash like any other. Both modes, real loopback HTTP.
 * If the host process died (the bug: one 30 MiB reply with a 16 MB worker
 * heap aborted it with "FATAL ERROR: Reached heap limit"; 16 MB is now
 * CONFIG, too little for a worker and its calls), this file fails.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, ParleyError, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { responseBytesFor } from '../src/host/response-size-cap.ts';
import { injectWorkerFault, threadServing, withWorkerHooks } from './helpers/worker-hooks.ts';

const MIB = 1024 * 1024;
const ask = { model: 'parley-echo', messages: [{ role: 'user' as const, content: 'a short one' }], maxTokens: 8 };
/** A small worker heap: the default 32 MiB cap cannot fit in it. */
const HEAP_MB = 24;
const tightHeap = { resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } } satisfies Partial<RuntimeOptions>;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return err instanceof ParleyError ? err.code : `not a ParleyError: ${String(err)}`;
  }
}

async function streamCode(rt: Runtime, provider: string): Promise<string> {
  return codeOf(
    (async () => {
      for await (const _ of rt.stream({ ...ask, provider })) {
        // consume
      }
    })(),
  );
}

describe('memory: the response cap against the worker heap', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer();
  });
  after(async () => {
    await server.close();
  });

  /** 'plain' answers normally; 'big' pads every reply to `bytes` (a per-provider fault header). */
  function providers(bytes: number): RuntimeOptions['providers'] {
    const baseUrl = `${server.url}/v1`;
    return {
      plain: { kind: 'openai', baseUrl },
      big: { kind: 'openai', baseUrl, headers: { 'x-parley-fault': JSON.stringify({ kind: 'oversized', bytes }) } },
    };
  }

  for (const workers of [1, 2]) {
    describe(`workers: ${workers}`, () => {
      test('a 30 MiB reply to a worker with a 24 MB heap is TOO_LARGE (chat and stream); no worker dies, the next call works', async () => {
        const rt = await createRuntime({ providers: providers(30 * MIB), workers, ...tightHeap });
        const crashes: unknown[] = [];
        rt.on('worker-crashed', (event) => crashes.push(event));
        try {
          assert.equal(await codeOf(rt.chat({ ...ask, provider: 'big' })), 'TOO_LARGE');
          assert.equal(await streamCode(rt, 'big'), 'TOO_LARGE');
          assert.equal((await rt.chat({ ...ask, provider: 'plain' })).provider, 'plain');
          assert.deepEqual(crashes, []);
        } finally {
          await rt.shutdown();
        }
      });

      test('a reply that fits the lowered default cap is served whole', async () => {
        const bytes = Math.floor(responseBytesFor(HEAP_MB) * 0.75);
        const rt = await createRuntime({ providers: providers(bytes), workers, ...tightHeap });
        try {
          const result = await rt.chat({ ...ask, provider: 'big' });
          // The reply's content is most of its body: the JSON around it is small.
          assert.ok(result.content.length >= bytes - 4096, `content of ${result.content.length} chars for a ${bytes}-byte reply`);
        } finally {
          await rt.shutdown();
        }
      });

      test('a worker that runs out of memory under a 24 MB heap is a crash like any other: WORKER_CRASHED, replaced, the next call works', async () => {
        const slow = await startModelServer({ fault: { kind: 'slow-headers', delayMs: 30_000 } });
        const rt = await createRuntime({
          providers: { plain: { kind: 'openai', baseUrl: `${server.url}/v1` }, slow: { kind: 'openai', baseUrl: `${slow.url}/v1` } },
          workers,
          ...tightHeap,
          ...withWorkerHooks,
        });
        try {
          await rt.chat({ ...ask, provider: 'plain' });
          const pending = codeOf(rt.chat({ ...ask, provider: 'slow' }));
          // In flight in a worker, so the fault hits the thread that serves it.
          await waitFor(() => slow.stats().connectionsOpen >= 1, { what: 'the slow call reached the server' });
          const crashed = once(rt, 'worker-crashed');
          // Pool: only the thread serving the call (hitWorker reads the mode from the environment, not from this loop).
          injectWorkerFault('oom', workers === 1 ? {} : { threadId: await threadServing(rt) });
          const [event] = (await crashed) as [{ failedCalls: number }];
          assert.equal(event.failedCalls, 1);
          assert.equal(await pending, 'WORKER_CRASHED');
          assert.equal((await rt.chat({ ...ask, provider: 'plain' })).provider, 'plain');
        } finally {
          await rt.shutdown();
          await slow.close();
        }
      });
    });
  }

  test('a maxResponseBytes that cannot fit in maxOldGenerationSizeMb is CONFIG; one that fits is taken', async () => {
    const providers = { plain: { kind: 'openai' as const, baseUrl: `${server.url}/v1` } };
    await assert.rejects(createRuntime({ providers, ...tightHeap, maxResponseBytes: 32 * MIB }), { code: 'CONFIG' });
    await assert.rejects(createRuntime({ providers, ...tightHeap, maxResponseBytes: responseBytesFor(HEAP_MB) + 1 }), { code: 'CONFIG' });
    const rt = await createRuntime({ providers, ...tightHeap, maxResponseBytes: responseBytesFor(HEAP_MB) });
    await rt.shutdown();
  });

  test('a maxOldGenerationSizeMb no provider worker can live in is CONFIG', async () => {
    const providers = { plain: { kind: 'openai' as const, baseUrl: `${server.url}/v1` } };
    for (const maxOldGenerationSizeMb of [16, 8, -1, Number.NaN, '64' as unknown as number]) {
      await assert.rejects(createRuntime({ providers, resourceLimits: { maxOldGenerationSizeMb } }), { code: 'CONFIG' }, String(maxOldGenerationSizeMb));
    }
  });
});
