/**
 * Runtime.configure(): live settings, in both modes. New keys, URLs and
 * providers take effect for the next call with no worker restart; a call in
 * flight finishes on the settings it started with and none is dropped;
 * sockets to an origin that is gone are closed; threads started later
 * (replacements after a crash) get the new settings; checked at the door
 * like createRuntime; new secrets are redacted.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { createRuntime, type Runtime, type RuntimeOptions, type StreamEvent } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ask, rejectsWith, TEST_RUNTIME_DEFAULTS, textOf } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, withWorkerHooks } from './helpers/worker-hooks.ts';

const KEY_A = 'sk-live-old-4Hq9Tz2Wm7Rb';
const KEY_B = 'sk-live-new-8Np3Jv6Xc1Ld';

function keysSeen(server: ModelServer): string[] {
  return server.requests.map((r) => String(r.headers.authorization ?? ''));
}

async function withRuntime(options: Omit<RuntimeOptions, 'workers'>, workers: number, body: (rt: Runtime, started: number[]) => Promise<void>) {
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, ...options, workers });
  // createRuntime resolved once every worker had started: those count as
  // started, and later starts (replacements) are heard as events.
  const started: number[] = (await rt.stats()).workers.map((w) => w.workerId);
  rt.on('worker-started', ({ workerId }) => started.push(workerId));
  try {
    assert.equal(started.length, workers, 'every worker had started when createRuntime resolved');
    await body(rt, started);
  } finally {
    await rt.shutdown({ graceMs: 500 });
  }
}

for (const workers of [1, 2]) {
  describe(`Runtime.configure (workers: ${workers})`, () => {
    let a: ModelServer;
    let b: ModelServer;
    before(async () => {
      [a, b] = await Promise.all([startModelServer(), startModelServer()]);
    });
    after(async () => {
      await Promise.all([a.close(), b.close()]);
    });

    test('a new key is used by the next call, with no worker restart', async () => {
      await withRuntime({ providers: { p: { kind: 'openai', baseUrl: `${a.url}/v1`, apiKey: KEY_A } } }, workers, async (rt) => {
        await rt.chat(ask('old key'));
        const before = a.requests.length;
        await rt.configure({ providers: { p: { kind: 'openai', baseUrl: `${a.url}/v1`, apiKey: KEY_B } } });
        for (let i = 0; i < 4; i++) await rt.chat(ask(`new key ${i}`));
        assert.deepEqual(keysSeen(a).slice(before), Array(4).fill(`Bearer ${KEY_B}`));
        const stats = await rt.stats();
        assert.equal(stats.restarts, 0);
        assert.equal(stats.workers.length, workers);
        for (const text of [JSON.stringify(stats), inspect(stats, { depth: 10 })]) {
          assert.ok(!text.includes(KEY_A) && !text.includes(KEY_B));
        }
      });
    });

    test('a call in flight finishes on the old URL; the next goes to the new one; the old sockets close', async () => {
      a.setOptions({ tokenDelayMs: 20 });
      try {
        await withRuntime({ providers: { p: { kind: 'ollama', baseUrl: a.url } } }, workers, async (rt, started) => {
          await rt.chat(ask('warm', { maxTokens: 1 }));
          const startedBefore = started.length;
          const events: StreamEvent[] = [];
          const iterator = rt.stream(ask('a long answer', { maxTokens: 24 }))[Symbol.asyncIterator]();
          const first = await iterator.next();
          assert.equal(first.done, false);
          events.push(first.value as StreamEvent);
          const fromB = b.requests.length;
          await rt.configure({ providers: { p: { kind: 'ollama', baseUrl: b.url } } });
          const quick = await rt.chat(ask('to the new server', { maxTokens: 2 }));
          assert.ok(quick.content.length > 0);
          assert.equal(b.requests.length - fromB, 1, `the new call went to the new URL: ${JSON.stringify(b.requests.slice(-3).map((r) => [r.path, r.body]))}`);
          for (let r = await iterator.next(); !r.done; r = await iterator.next()) events.push(r.value);
          const done = events.at(-1);
          assert.equal(done?.type, 'done', 'the call in flight was not dropped');
          assert.equal(textOf(events), done.type === 'done' ? done.result.content : '');
          // Its origin is gone and its last call ended: the old agent closes its sockets.
          await waitFor(() => a.stats().connectionsOpen === 0, { what: 'sockets to the old origin closed' });
          assert.equal(started.length, startedBefore, 'no worker was started');
          assert.equal((await rt.stats()).restarts, 0);
        });
      } finally {
        a.setOptions({ tokenDelayMs: 0 });
      }
    });

    test('providers added, removed and a new default; the router knows the new names', async () => {
      await withRuntime({ providers: { one: { kind: 'ollama', baseUrl: a.url } } }, workers, async (rt) => {
        await rt.configure({ providers: { one: { kind: 'ollama', baseUrl: a.url }, two: { kind: 'openai', baseUrl: `${b.url}/v1` } }, defaultProvider: 'two' });
        const fromB = b.requests.length;
        assert.equal((await rt.chat(ask('default'))).provider, 'two');
        assert.equal((await rt.chat(ask('named', { provider: 'two' }))).provider, 'two');
        assert.equal(b.requests.length - fromB, 2);
        assert.deepEqual((await rt.chat(ask('fallback', { provider: ['two', 'one'] }))).provider, 'two');
        assert.deepEqual(
          (await rt.stats()).providers.map((p) => p.provider),
          ['one', 'two'],
        );
        assert.equal((await rt.health()).length, 2);
        await rt.configure({ providers: { two: { kind: 'openai', baseUrl: `${b.url}/v1` } } });
        await rejectsWith(rt.chat(ask('removed', { provider: 'one' })), 'INVALID_REQUEST');
        assert.equal((await rt.chat(ask('the only one'))).provider, 'two');
        assert.deepEqual((await rt.models()).length > 0, true);
      });
    });

    test('a thread started later (a replacement after a crash) runs on the new settings', async () => {
      await withRuntime({ providers: { p: { kind: 'openai', baseUrl: `${a.url}/v1`, apiKey: KEY_A } }, ...withWorkerHooks }, workers, async (rt, started) => {
        await rt.configure({ providers: { p: { kind: 'openai', baseUrl: `${b.url}/v1`, apiKey: KEY_B } } });
        const crashed = started.length;
        injectWorkerFault('crash');
        await waitFor(async () => (await rt.stats()).restarts >= workers && started.length >= crashed + workers, {
          timeoutMs: 15_000,
          what: 'every worker replaced',
        });
        const fromB = b.requests.length;
        for (let i = 0; i < 4; i++) await rt.chat(ask(`after the crash ${i}`));
        assert.deepEqual(keysSeen(b).slice(fromB), Array(4).fill(`Bearer ${KEY_B}`));
      });
    });

    test('checked like createRuntime: CONFIG changes nothing; SHUTDOWN once shut down', async () => {
      const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, workers, providers: { p: { kind: 'ollama', baseUrl: a.url } } });
      try {
        const bad: unknown[] = [
          undefined,
          { providers: {} },
          { providers: { p: { kind: 'ollama', baseUrl: 'ftp://x' } } },
          { providers: { p: { kind: 'ollama', baseURL: a.url } } },
          { providers: { p: { kind: 'ollama' } }, defaultProvider: 'q' },
          { providers: { p: { kind: 'ollama' } }, timeoutMs: 5 },
          { providers: { p: { kind: 'anthropic', baseUrl: a.url, apiKey: KEY_B, ca: 'nope' } } },
        ];
        for (const settings of bad) {
          const err = await rejectsWith(rt.configure(settings as never), 'CONFIG');
          assert.ok(!JSON.stringify(err).includes(KEY_B));
        }
        assert.equal((await rt.chat(ask('still the old settings'))).provider, 'p');
        assert.equal(a.requests.at(-1)?.path, '/api/chat');
      } finally {
        await rt.shutdown({ graceMs: 500 });
      }
      await rejectsWith(rt.configure({ providers: { p: { kind: 'ollama', baseUrl: b.url } } }), 'SHUTDOWN');
    });
  });
}

describe('Runtime.configure: secrets', () => {
  let echo: Server;
  let echoUrl: string;
  before(async () => {
    // A hostile provider: every error body repeats the authorization it was sent.
    echo = createServer((req, res) => {
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `bad key ${req.headers.authorization}` } }));
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
  });
  after(async () => {
    echo.closeAllConnections();
    await new Promise((resolve) => echo.close(resolve));
  });

  for (const workers of [1, 2]) {
    test(`new keys and proxy credentials are redacted like the first ones (workers: ${workers})`, async () => {
      await withRuntime({ providers: { p: { kind: 'openai', baseUrl: `${echoUrl}/v1`, apiKey: KEY_A } } }, workers, async (rt) => {
        await rt.configure({ providers: { p: { kind: 'openai', baseUrl: `${echoUrl}/v1`, apiKey: KEY_B } } });
        const err = await rejectsWith(rt.chat(ask('echo')), 'HTTP');
        for (const text of [JSON.stringify(err), inspect(err, { depth: 10 }), JSON.stringify(await rt.stats())]) {
          assert.ok(!text.includes(KEY_B) && !text.includes(KEY_A));
        }
        const proxyPassword = 'live-proxy-pw-5Kd8Qs';
        const refused = await rejectsWith(
          rt.configure({ providers: { p: { kind: 'openai', baseUrl: `${echoUrl}/v1`, proxy: `http://u:${proxyPassword}@127.0.0.1:1/x` } } }),
          'CONFIG',
        );
        assert.ok(!JSON.stringify(refused).includes(proxyPassword));
      });
    });
  }
});
