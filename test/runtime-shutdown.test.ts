import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { FAULT_HEADER } from '../src/testing/index.ts';
import { ask, collect, providersFor, rejectsWith, startStack, warm } from './helpers/fixtures.ts';
import { settlesWithin, waitFor } from './helpers/wait-for.ts';
import { injectAndConfirm, withWorkerHooks } from './helpers/worker-hooks.ts';
import { testWorkers } from './helpers/workers-mode.ts';
import { nodeScript } from './helpers/checkout.ts';

describe('runtime shutdown', () => {
  test('calls in flight finish within a long enough graceMs and are counted as drained', async () => {
    // A non-stream reply is written at once, so the chat gets slow headers to stay in flight.
    const { server, rt, close } = await startStack({ tokenDelayMs: 40 }, (s) => ({
      providers: {
        ...providersFor(s),
        slow: { kind: 'ollama', baseUrl: s.url, headers: { [FAULT_HEADER]: JSON.stringify({ kind: 'slow-headers', delayMs: 1_000 }) } },
      },
    }));
    try {
      await warm({ server, rt });
      const chat = rt.chat(ask('a', { provider: 'slow' }));
      const stream = collect(rt.stream(ask('b', { provider: 'openai', maxTokens: 20 })));
      await waitFor(() => server.stats().requestsServed >= 3, { what: 'both calls reached the server' });
      assert.equal((await rt.stats()).inFlight, 2);
      const shutdown = rt.shutdown({ graceMs: 8_000 });
      // Draining: new calls are refused at once.
      await rejectsWith(rt.chat(ask('too late')), 'SHUTDOWN');
      const report = await shutdown;
      assert.equal(report.drained, 2);
      assert.equal(report.aborted, 0);
      assert.equal(report.forced, false);
      assert.ok((await chat).content.length > 0);
      const { events, error } = await stream;
      assert.equal(error, undefined);
      assert.equal(events.at(-1)?.type, 'done');
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'every socket closed' });
      assert.equal(rt.state, 'closed');
    } finally {
      await close();
    }
  });

  // An actor worker answers the close with what it still holds; nothing means
  // shutdown need not wait for V8 to tear its thread down. Something means it
  // is waited for, and terminated when it does not exit: a pool thread's
  // ports are piscina's, so it is always retired by piscina.
  test('a worker that still holds something after the close is not taken for clean: it is terminated and the report says forced', { skip: testWorkers > 1 && 'actor mode only' }, async () => {
    const { server, rt, close } = await startStack({}, () => withWorkerHooks);
    try {
      await warm({ server, rt });
      await injectAndConfirm('hold-timer', 1);
      const report = await rt.shutdown({ graceMs: 0 });
      assert.equal(report.forced, true);
      assert.equal(rt.state, 'closed');
    } finally {
      await close();
    }
  });

  test('calls still running when graceMs runs out fail with SHUTDOWN and are counted as aborted', async () => {
    const { server, rt, close } = await startStack({ fault: { kind: 'stall', afterTokens: 1 } });
    try {
      await warm({ server, rt });
      const chat = rejectsWith(rt.chat(ask('a')), 'SHUTDOWN');
      const stream = collect(rt.stream(ask('b', { provider: 'openai' })));
      await waitFor(() => server.stats().requestsServed >= 3, { what: 'both calls reached the server' });
      // The stalled calls would never end by themselves: the grace time ends them.
      const { value: report } = await settlesWithin(rt.shutdown({ graceMs: 150 }), 30_000, 'shutdown');
      assert.ok(report);
      assert.equal(report.aborted, 2);
      assert.equal(report.drained, 0);
      assert.equal(report.forced, false, 'the worker exited by itself');
      await chat;
      const { events, error } = await stream;
      await rejectsWith(Promise.reject(error), 'SHUTDOWN');
      assert.ok(!events.some((e) => e.type === 'done'));
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'every socket closed' });
    } finally {
      await close();
    }
  });

  test('shutdown() is idempotent: a second call returns the same report', async () => {
    const { server, rt, close } = await startStack();
    try {
      await rt.chat(ask('a'));
      const first = rt.shutdown();
      const second = rt.shutdown({ graceMs: 1 });
      assert.equal(await first, await second);
      assert.equal(await rt.shutdown(), await first);
      assert.equal((await first).forced, false);
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'every socket closed' });
    } finally {
      await close();
    }
  });

  test('every kind of call after shutdown rejects with SHUTDOWN', async () => {
    const { server, rt, close } = await startStack();
    try {
      await rt.chat(ask('a worker that has served a call'));
      await rt.shutdown();
      const served = server.stats().requestsServed;
      await rejectsWith(rt.chat(ask('a')), 'SHUTDOWN');
      await rejectsWith(rt.models(), 'SHUTDOWN');
      const { error } = await collect(rt.stream(ask('a')));
      await rejectsWith(Promise.reject(error), 'SHUTDOWN');
      assert.equal(server.stats().requestsServed, served);
      const stats = await rt.stats();
      assert.equal(stats.state, 'closed');
      assert.equal(stats.inFlight, 0);
    } finally {
      await close();
    }
  });

  test('a process that shuts the runtime down exits by itself with code 0', async () => {
    const child = spawn(process.execPath, nodeScript('test/fixtures/exit-by-itself.ts'), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      // A process that does not exit by itself hangs for good; 60 s only bounds the wait for a starting tsx process on a loaded machine.
      const { value: code } = await settlesWithin(exited, 60_000, 'the fixture process');
      assert.equal(code, 0, stderr);
      const report = JSON.parse(stdout.trim()) as { forced: boolean; aborted: number };
      assert.equal(report.forced, false);
      assert.equal(report.aborted, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  });
});
