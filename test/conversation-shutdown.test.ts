/**
 * runtime.shutdown() closes the conversations the runtime opened: turns
 * settled, transcripts flushed and closed, locks released, so a host panel
 * that closes without closing its conversation by hand can open the same
 * transcript again in the same process and resume its whole history, and no
 * FileHandle is ever left for the garbage collector. Actor and pool mode.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRuntime, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { providersFor, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';
import { nodeScript, REPO } from './helpers/checkout.ts';

const GC_WARNING = /Closing (a FileHandle|file descriptor)/;

let dir: string;
let server: ModelServer;
let counter = 0;
const storePath = () => join(dir, `chat-${++counter}.jsonl`);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parley-conv-shutdown-'));
  server = await startModelServer();
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Files under the test directory this process holds open (Linux; elsewhere none are seen). */
function openFilesHere(): string[] {
  if (!existsSync('/proc/self/fd')) return [];
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

function locksHere(): string[] {
  return readdirSync(dir).filter((name) => name.includes('.lock'));
}

async function runtime(workers: number): Promise<Runtime> {
  return createRuntime({ workers, providers: providersFor(server), ...TEST_RUNTIME_DEFAULTS });
}

async function runChild(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--expose-gc', ...nodeScript('test/fixtures/panel-reopen.ts'), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

for (const workers of [1, 2]) {
  describe(`runtime.shutdown() closes its conversations (workers: ${workers})`, () => {
    test('a panel closes without closing its conversation and opens the same transcript again: the whole history resumes', async () => {
      const path = storePath();
      const first = await runtime(workers);
      const conversation = await first.conversation({ model: 'parley-echo', system: 'panel', store: path, maxTokens: 6 });
      await conversation.send('one');
      await conversation.send('two');
      const history = conversation.messages;
      await first.shutdown();
      assert.deepEqual(locksHere(), [], 'the lock is released');
      assert.deepEqual(openFilesHere(), [], 'the transcript is closed');
      await rejectsWith(conversation.send('three'), 'SHUTDOWN');

      const second = await runtime(workers);
      try {
        const reopened = await second.conversation({ model: 'parley-echo', store: path, maxTokens: 6 });
        assert.deepEqual(reopened.messages, history);
        await reopened.send('three');
        assert.equal(reopened.messages.length, history.length + 2);
      } finally {
        await second.shutdown();
      }
      assert.deepEqual(locksHere(), []);
    });

    test('a turn running at shutdown finishes within the grace and is on disk; queued turns fail with SHUTDOWN; forks are closed too', async () => {
      const path = storePath();
      const rt = await runtime(workers);
      const conversation = await rt.conversation({ model: 'parley-echo', store: path, maxTokens: 6 });
      await conversation.send('before');
      const fork = await conversation.fork({ store: storePath() });
      await fork.send('in the fork');
      server.injectFault({ kind: 'slow-headers', delayMs: 300 });
      const running = conversation.send('running');
      await waitFor(() => server.requests.some((r) => JSON.stringify(r.body ?? '').includes('"running"')), { what: 'the running turn reached the server' });
      const queued = rejectsWith(conversation.send('queued'), 'SHUTDOWN');
      const report = await rt.shutdown({ graceMs: 10_000 });
      assert.equal(report.aborted, 0);
      await running;
      await queued;
      assert.deepEqual(locksHere(), []);
      assert.deepEqual(openFilesHere(), []);

      const again = await runtime(workers);
      try {
        const reopened = await again.conversation({ model: 'parley-echo', store: path });
        assert.deepEqual(
          reopened.messages.filter((m) => m.role === 'user').map((m) => m.content),
          ['before', 'running'],
        );
      } finally {
        await again.shutdown();
      }
    });

    test('a conversation still opening when shutdown begins is closed as it opens: SHUTDOWN, and its lock released', async () => {
      const rt = await runtime(workers);
      const opening = rt.conversation({ model: 'parley-echo', store: storePath() });
      const shutdown = rt.shutdown();
      await rejectsWith(opening, 'SHUTDOWN');
      await shutdown;
      assert.deepEqual(locksHere(), []);
      assert.deepEqual(openFilesHere(), []);
    });

    test('in a fresh process, three panels in a row on one transcript: each resumes it all, no lock is left, and Node never warns of a FileHandle closed by GC', async () => {
      const path = storePath();
      const { code, stdout, stderr } = await runChild(['panel', path, server.url, String(workers)]);
      assert.equal(code, 0, `the child failed: ${stderr}`);
      assert.deepEqual(stdout.split('\n'), ['resumed 0', 'resumed 2', 'resumed 4', 'locks left: ', '']);
      assert.doesNotMatch(stderr, GC_WARNING);
    });
  });
}

test('the FileHandle warning check can fail: a handle leaked on purpose is reported', async () => {
  const { code, stderr } = await runChild(['leak', fileURLToPath(import.meta.url)]);
  assert.equal(code, 0, stderr);
  assert.match(stderr, GC_WARNING);
});
