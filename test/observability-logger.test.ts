import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createRuntime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { ask, providersFor, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { injectWorkerFault, withWorkerHooks } from './helpers/worker-hooks.ts';
import { waitFor } from './helpers/wait-for.ts';

const SECRET = 'sk-obs-logger-0123456789abcdef';

interface Line {
  level: string;
  record: { event: string; [key: string]: unknown };
  message: string;
}

function recordingLogger(): { logger: NonNullable<RuntimeOptions['logger']>; lines: Line[]; events: () => string[] } {
  const lines: Line[] = [];
  const at = (level: string) => (record: Line['record'], message: string) => void lines.push({ level, record, message });
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines, events: () => lines.map((l) => l.record.event) };
}

for (const workers of [1, 2]) {
  describe(`logger (workers: ${workers})`, () => {
    test('worker start, retries, breaker changes, a crash and its restart, transcript warnings and shutdown, redacted', async () => {
      const server = await startModelServer();
      const dir = mkdtempSync(join(tmpdir(), 'parley-obs-log-'));
      const { logger, lines, events } = recordingLogger();
      const providers = providersFor(server, SECRET);
      const rt = await createRuntime({
        ...TEST_RUNTIME_DEFAULTS,
        ...withWorkerHooks,
        workers,
        providers,
        retryBaseMs: 1,
        breaker: { failureThreshold: 1, cooldownMs: 0 },
        logger,
      });
      try {
        await waitFor(() => events().includes('worker-started'));

        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 });
        await rt.chat(ask('retry', { provider: 'openai' }));
        const retry = lines.find((l) => l.record.event === 'retry');
        assert.equal(retry?.record.code, 'HTTP');
        assert.equal(retry?.record.status, 503);
        assert.equal(retry?.record.provider, 'openai');

        // Every attempt at openai fails: its breaker opens, the call falls back to ollama.
        server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 }, 3);
        await rt.chat(ask('fall back', { provider: ['openai', 'ollama'] }));
        assert.ok(events().includes('fallback'));
        const open = lines.find((l) => l.record.event === 'breaker-open');
        assert.equal(open?.record.provider, 'openai');
        // The cooldown is 0: the next call is the probe, and it closes the breaker.
        await rt.chat(ask('probe', { provider: 'openai' }));
        assert.equal(lines.find((l) => l.record.event === 'breaker-closed')?.record.provider, 'openai');

        // One thread in pool mode, as a real fault takes down one: a fault
        // broadcast to both could crash the second under the next call.
        injectWorkerFault('crash', workers === 1 ? {} : { threadId: (await rt.stats()).workers[0]!.workerId });
        await waitFor(() => events().includes('worker-crashed') && events().includes('worker-restarted'));
        assert.equal(lines.find((l) => l.record.event === 'worker-crashed')?.level, 'error');
        await rt.chat(ask('after the crash'));

        const path = join(dir, 'talk.jsonl');
        const first = await rt.conversation({ model: 'parley-echo', store: path });
        await first.send('kept');
        await first.close();
        appendFileSync(path, '{"type":"turn","messages":[{"role":"user","cont');
        const second = await rt.conversation({ model: 'parley-echo', store: path });
        await second.close();
        const warning = lines.find((l) => l.record.event === 'transcript-warning');
        assert.equal(warning?.level, 'warn');
        assert.equal(warning?.record.store, path);

        await rt.shutdown({ graceMs: 500 });
        assert.ok(events().includes('shutdown-started'));
        assert.equal(lines.find((l) => l.record.event === 'shutdown')?.record.forced, false);
        assert.equal(JSON.stringify(lines).includes(SECRET), false);
      } finally {
        await rt.shutdown({ graceMs: 500 });
        await server.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

test('a logger without the four methods is refused with CONFIG; a throwing logger fails no call', async () => {
  const server = await startModelServer();
  try {
    await rejectsWith(createRuntime({ providers: providersFor(server), logger: { info() {} } as never }), 'CONFIG');
    const thrower = () => {
      throw new Error('logger down');
    };
    const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers: providersFor(server), retryBaseMs: 1, logger: { debug: thrower, info: thrower, warn: thrower, error: thrower } });
    try {
      server.injectFault({ kind: 'status', status: 503, retryAfterMs: 1 });
      const result = await rt.chat(ask('still answered'));
      assert.ok(result.content.length > 0);
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
  } finally {
    await server.close();
  }
});
