/**
 * health(): one report per provider, a provider being down is a report and
 * never an exception, and each protocol is probed on its cheap endpoint
 * rather than with a chat.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRuntime, type HealthReport, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { TEST_RUNTIME_DEFAULTS, ask, closedPort, rejectsWith } from './helpers/fixtures.ts';
import { providerFigure } from './helpers/workers-mode.ts';

const ANTHROPIC_KEY = 'sk-ant-test-health-0123456789';
const OPENAI_KEY = 'sk-openai-test-health-0123456789';

async function withRuntime(
  providers: (server: ModelServer, port: number) => RuntimeOptions['providers'],
  options: Partial<RuntimeOptions>,
  body: (rt: Runtime, server: ModelServer) => Promise<void>,
): Promise<void> {
  const server = await startModelServer();
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ providers: providers(server, await closedPort()), ...TEST_RUNTIME_DEFAULTS, ...options });
    await body(rt, server);
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await server.close();
  }
}

function assertUp(report: HealthReport | undefined, provider: string): void {
  assert.ok(report, `a report for ${provider}`);
  assert.equal(report.provider, provider);
  assert.equal(report.ok, true);
  assert.ok(Number.isFinite(report.latencyMs), 'a latency in ms');
  assert.equal(report.error, undefined);
}

describe('health()', () => {
  test('two providers, one down: two reports, ok with latency and ok:false UNREACHABLE, without throwing', async () => {
    await withRuntime(
      (server, port) => ({
        up: { kind: 'anthropic', baseUrl: server.url, apiKey: ANTHROPIC_KEY },
        down: { kind: 'openai', baseUrl: `http://127.0.0.1:${port}/v1`, apiKey: OPENAI_KEY },
      }),
      {},
      async (rt) => {
        const reports = await rt.health();
        assert.ok(Array.isArray(reports));
        assert.deepEqual(
          reports.map((r) => r.provider),
          ['up', 'down'],
          'one report per provider, in configuration order',
        );
        assertUp(reports[0], 'up');
        const down = reports[1]!;
        assert.equal(down.ok, false);
        assert.equal(typeof down.latencyMs, 'number');
        assert.equal(down.error?.code, 'UNREACHABLE');
        assert.equal(typeof down.error?.message, 'string');
        assert.ok(!down.error!.message.includes(OPENAI_KEY), 'no key in the report');

        const one = await rt.health('down');
        assert.ok(!Array.isArray(one), 'health(name) returns one report');
        assert.equal(one.provider, 'down');
        assert.equal(one.ok, false);
        assert.equal(one.error?.code, 'UNREACHABLE');
        assertUp(await rt.health('up'), 'up');

        await rejectsWith(rt.health('nope'), 'INVALID_REQUEST');
        const stats = await rt.stats();
        assert.equal(stats.inFlight, 0);
      },
    );
  });

  test('each protocol is probed on its cheap endpoint: Ollama GET /, OpenAI and Anthropic GET /v1/models', async () => {
    await withRuntime(
      (server) => ({
        ollama: { kind: 'ollama', baseUrl: server.url },
        openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: OPENAI_KEY },
        anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: ANTHROPIC_KEY },
      }),
      {},
      async (rt, server) => {
        for (const name of ['ollama', 'openai', 'anthropic']) {
          const before = server.requests.length;
          assertUp(await rt.health(name), name);
          const seen = server.requests.slice(before);
          assert.equal(seen.length, 1, `${name}: one probe request`);
          const probe = seen[0]!;
          assert.equal(probe.method, 'GET', `${name}: a GET, no chat`);
          if (name === 'ollama') {
            assert.equal(probe.path, '/');
          } else if (name === 'openai') {
            assert.equal(probe.path, '/v1/models');
            assert.equal(probe.headers.authorization, `Bearer ${OPENAI_KEY}`);
            assert.equal(probe.headers['x-api-key'], undefined);
          } else {
            assert.equal(probe.path, '/v1/models');
            assert.equal(probe.headers['x-api-key'], ANTHROPIC_KEY);
            assert.equal(probe.headers['anthropic-version'], '2023-06-01');
          }
        }
        const all = await rt.health();
        assert.equal(all.length, 3);
        for (const report of all) assertUp(report, report.provider);
        assert.ok(!server.requests.some((r) => r.method === 'POST'), 'health never runs a chat');
      },
    );
  });

  test('a provider answering a non-2xx status reports ok:false with HTTP and the status', async () => {
    await withRuntime(
      (server) => ({ wrong: { kind: 'openai', baseUrl: `${server.url}/not-an-api` } }),
      {},
      async (rt) => {
        const report = await rt.health('wrong');
        assert.equal(report.ok, false);
        assert.equal(report.error?.code, 'HTTP');
        assert.equal(report.error?.status, 404);
      },
    );
  });

  test('a provider that stops listening and comes back is reported down, then up', async () => {
    await withRuntime(
      (server) => ({ local: { kind: 'ollama', baseUrl: server.url } }),
      {},
      async (rt, server) => {
        assertUp(await rt.health('local'), 'local');
        await server.refuse(true);
        // Until the worker has seen its keep-alive socket closed, a probe may be
        // written on it and fail with CONNECTION: health() probes once, without
        // the stale-socket retry that chat() has.
        await waitFor(async () => providerFigure(await rt.stats(), 'local', 'connected') === 0, { what: 'the worker saw its socket closed' });
        const down = await rt.health('local');
        assert.equal(down.ok, false);
        assert.equal(down.error?.code, 'UNREACHABLE');
        await server.refuse(false);
        assertUp(await rt.health('local'), 'local');
      },
    );
  });

  test('a healthy probe after the cooldown closes an open breaker; during the cooldown it does not', async () => {
    await withRuntime(
      (server) => ({
        flaky: { kind: 'ollama', baseUrl: server.url },
        spare: { kind: 'openai', baseUrl: `${server.url}/v1` },
      }),
      { maxRetries: 0, breaker: { failureThreshold: 1, cooldownMs: 300 } },
      async (rt, server) => {
        const breaker = async () => (await rt.stats()).providers.find((p) => p.provider === 'flaky')!.breaker;
        // Faults apply to chats only: the probe endpoint stays healthy.
        server.injectFault({ kind: 'status', status: 503 });
        assert.equal((await rt.chat(ask('flaky first', { provider: ['flaky', 'spare'] }))).provider, 'spare');
        assert.equal(await breaker(), 'open');
        assertUp(await rt.health('flaky'), 'flaky');
        assert.equal(await breaker(), 'open', 'a probe during the cooldown does not cut it short');
        await waitFor(async () => (await breaker()) === 'half-open', { what: 'cooldown over' });
        assertUp(await rt.health('flaky'), 'flaky');
        assert.equal(await breaker(), 'closed');
      },
    );
  });
});
