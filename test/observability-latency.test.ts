import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRuntime } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { LatencyWindows, LATENCY_WINDOW_MS } from '../src/host/observability/latency-window.ts';
import { ask, collect, providersFor, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

describe('latency windows', () => {
  test('p50 and p99 land in the bucket of the true percentile (at most 9% above it)', () => {
    const windows = new LatencyWindows();
    const t0 = 1_000_000;
    // 1..100 ms: p50 is 50 ms, p99 is 99 ms.
    for (let ms = 1; ms <= 100; ms++) windows.record('p', t0, t0 + ms, ms % 2 === 0 ? t0 + ms / 2 : undefined);
    const figures = windows.snapshot('p');
    assert.equal(figures.calls, 100);
    const { p50, p99 } = figures.durationMs!;
    assert.ok(p50 >= 50 && p50 <= 50 * 1.091, `p50 ${p50}`);
    assert.ok(p99 >= 99 && p99 <= 99 * 1.091, `p99 ${p99}`);
    // Every other call was a stream whose first chunk came at half its duration: 1..50 ms.
    assert.ok(figures.ttftMs!.p50 >= 25 && figures.ttftMs!.p50 <= 25 * 1.091);
    assert.equal(windows.snapshot('other').calls, 0);
    assert.equal(windows.snapshot('other').durationMs, undefined);
  });

  test('calls older than the window are forgotten; the memory does not grow with calls', () => {
    const windows = new LatencyWindows();
    const start = performance.now() - 3 * LATENCY_WINDOW_MS;
    for (let i = 0; i < 10_000; i++) windows.record('p', start, start + 5_000, undefined);
    windows.record('p', start + 2 * LATENCY_WINDOW_MS, start + 2 * LATENCY_WINDOW_MS + 1, undefined);
    const figures = windows.snapshot('p');
    assert.equal(figures.calls, 0, 'every call recorded ended more than a window ago');
  });
});

for (const workers of [1, 2]) {
  test(`stats() gives each provider's latency percentiles (workers: ${workers})`, async () => {
    const server = await startModelServer();
    const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, providers: providersFor(server) });
    try {
      for (let i = 0; i < 5; i++) await rt.chat(ask(`chat ${i}`));
      for (let i = 0; i < 3; i++) await collect(rt.stream(ask(`stream ${i}`, { provider: 'openai' })));
      const stats = await rt.stats();
      const ollama = stats.providers.find((p) => p.provider === 'ollama')!.latency;
      const openai = stats.providers.find((p) => p.provider === 'openai')!.latency;
      assert.equal(ollama.calls, 5);
      assert.ok(ollama.durationMs && ollama.durationMs.p50 > 0 && ollama.durationMs.p99 >= ollama.durationMs.p50);
      assert.equal(ollama.ttftMs, undefined, 'chats have no first chunk');
      assert.equal(openai.calls, 3);
      assert.ok(openai.ttftMs && openai.ttftMs.p50 > 0 && openai.ttftMs.p99 <= openai.durationMs!.p99);
    } finally {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    }
  });
}
