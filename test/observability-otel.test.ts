import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { context, metrics, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { createRuntime, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ask, collect, providersFor, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })] });
const contextManager = new AsyncLocalStorageContextManager().enable();

before(() => {
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  metrics.setGlobalMeterProvider(meterProvider);
});

after(async () => {
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
  context.disable();
});

/** Runs `body` inside an active parent span; returns it. */
async function underParent(body: () => Promise<unknown>): Promise<Span> {
  return trace.getTracer('test').startActiveSpan('parent', async (parent) => {
    try {
      await body();
    } finally {
      parent.end();
    }
    return parent;
  });
}

const byName = (name: string): ReadableSpan[] => spans.getFinishedSpans().filter((s) => s.name === name);

for (const workers of [1, 2]) {
  describe(`OpenTelemetry (workers: ${workers})`, () => {
    let server: ModelServer;
    let rt: Runtime;
    before(async () => {
      server = await startModelServer();
      rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, retryBaseMs: 1, providers: providersFor(server) });
    });
    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    });

    test('a chat and a stream are GenAI client spans, children of the caller\'s active span, without content', async () => {
      spans.reset();
      let result;
      const parent = await underParent(async () => {
        result = await rt.chat(ask('hello'));
        await collect(rt.stream(ask('stream', { provider: 'openai' })));
      });
      const [chat, stream] = byName('chat parley-echo');
      assert.ok(chat && stream);
      for (const span of [chat, stream]) {
        assert.equal(span.parentSpanContext?.spanId, parent.spanContext().spanId);
        assert.equal(span.spanContext().traceId, parent.spanContext().traceId);
        assert.equal(span.kind, 2 /* CLIENT */);
        assert.equal(span.attributes['gen_ai.operation.name'], 'chat');
        assert.equal(span.attributes['gen_ai.request.model'], 'parley-echo');
        assert.equal(typeof span.attributes['gen_ai.response.model'], 'string');
        assert.ok(Number(span.attributes['gen_ai.usage.input_tokens']) > 0);
        assert.ok(Number(span.attributes['gen_ai.usage.output_tokens']) > 0);
        assert.deepEqual(span.attributes['gen_ai.response.finish_reasons'], [result!.finishReason]);
        assert.equal(span.attributes['gen_ai.input.messages'], undefined);
        assert.equal(span.attributes['gen_ai.output.messages'], undefined);
        assert.equal(span.attributes['error.type'], undefined);
      }
      assert.equal(chat.attributes['gen_ai.provider.name'], 'ollama');
      assert.equal(stream.attributes['gen_ai.provider.name'], 'openai');
    });

    test('retries and fallbacks are span events; a failure sets error.type', async () => {
      spans.reset();
      server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 });
      await rt.chat(ask('retried', { provider: 'openai' }));
      server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 }, 3);
      await rt.chat(ask('fell back', { provider: ['openai', 'ollama'] }));
      server.injectFault({ kind: 'status', status: 400 });
      await rejectsWith(rt.chat(ask('failed')), 'HTTP');
      const [retried, fell, failed] = byName('chat parley-echo');
      assert.ok(retried && fell && failed);
      const retry = retried.events.find((e) => e.name === 'parley.retry');
      assert.equal(retry?.attributes?.['error.type'], 'HTTP');
      assert.equal(retry?.attributes?.['http.response.status_code'], 503);
      const fallback = fell.events.find((e) => e.name === 'parley.fallback');
      assert.equal(fallback?.attributes?.['parley.provider'], 'openai');
      assert.equal(fell.attributes['parley.provider'], 'ollama');
      assert.equal(failed.attributes['error.type'], 'HTTP');
      assert.equal(failed.status.code, 2 /* ERROR */);
    });

    test('models and health are spans too', async () => {
      spans.reset();
      await rt.models('ollama');
      await rt.health('openai');
      assert.equal(byName('models ollama').length, 1);
      assert.equal(byName('health openai').length, 1);
    });
  });
}

test('the duration, token usage and first-chunk histograms of the GenAI conventions', async () => {
  const server = await startModelServer();
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providersFor(server) });
  try {
    await rt.chat(ask('measure me'));
    await collect(rt.stream(ask('and me')));
    await meterProvider.forceFlush();
    const all = metricExporter.getMetrics().flatMap((r) => r.scopeMetrics.filter((s) => s.scope.name === 'parley').flatMap((s) => s.metrics));
    const metric = (name: string) => all.filter((m) => m.descriptor.name === name).at(-1) as HistogramMetricData | undefined;
    const duration = metric('gen_ai.client.operation.duration');
    assert.equal(duration?.descriptor.unit, 's');
    const point = duration!.dataPoints.find((p) => p.attributes['gen_ai.provider.name'] === 'ollama');
    assert.ok(point && point.value.count >= 2);
    assert.equal(point.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(point.attributes['gen_ai.request.model'], 'parley-echo');
    const tokens = metric('gen_ai.client.token.usage');
    assert.equal(tokens?.descriptor.unit, '{token}');
    assert.deepEqual(new Set(tokens!.dataPoints.map((p) => p.attributes['gen_ai.token.type'])), new Set(['input', 'output']));
    assert.ok(metric('gen_ai.client.operation.time_to_first_chunk')!.dataPoints[0]!.value.count >= 1);
  } finally {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  }
});

test('content is recorded only when the host opts in', async () => {
  const server = await startModelServer();
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providersFor(server), telemetry: { recordContent: true } });
  try {
    spans.reset();
    const result = await rt.chat(ask('say this'));
    const [span] = byName('chat parley-echo');
    assert.ok(String(span!.attributes['gen_ai.input.messages']).includes('say this'));
    assert.ok(String(span!.attributes['gen_ai.output.messages']).includes(JSON.stringify(result.content).slice(1, -1)));
  } finally {
    await rt.shutdown({ graceMs: 500 });
    await server.close();
  }
});
