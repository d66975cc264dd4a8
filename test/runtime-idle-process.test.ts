/**
 * An idle runtime must not keep its host process alive, in either mode:
 * a process that creates a runtime, chats, streams and never calls
 * shutdown() exits by itself. Calls in flight do keep it alive until they
 * settle, and a stream dropped without return() keeps it only until its
 * deadline. This file is both the test and, with PARLEY_IDLE_CHILD set, the
 * child process it starts (the model server runs in the parent, so that
 * nothing of its own keeps the child alive).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { createRuntime, type ChatRequest } from '../src/index.ts';
import { startModelServer } from '../src/testing/index.ts';
import { TS_LOADER } from './helpers/checkout.ts';

type ChildMode = 'idle' | 'in-flight' | 'dropped-stream';

const CHILD_MODE = process.env.PARLEY_IDLE_CHILD as ChildMode | undefined;
/** How long the parent waits for the child to exit before it kills it and fails. */
const EXIT_LIMIT_MS = 60_000;

async function child(mode: ChildMode): Promise<void> {
  const rt = await createRuntime({
    workers: Number(process.env.PARLEY_IDLE_WORKERS),
    providers: { local: { kind: 'openai', baseUrl: `${process.env.PARLEY_IDLE_URL}/v1` } },
    heartbeatTimeoutMs: 10_000,
    timeoutMs: 30_000,
  });
  const ask: ChatRequest = { model: 'parley-echo', messages: [{ role: 'user', content: mode }] };
  const out: Record<string, unknown> = { mode };
  if (mode === 'idle') {
    out.chat = (await rt.chat(ask)).content.length > 0;
    for await (const event of rt.stream(ask)) if (event.type === 'done') out.stream = true;
  } else if (mode === 'in-flight') {
    // The parent's server holds these replies' headers: nothing but the calls keeps this process alive meanwhile.
    const chat = rt.chat(ask).then((r) => r.content.length > 0);
    const stream = (async () => {
      for await (const event of rt.stream(ask)) if (event.type === 'done') return true;
      return false;
    })();
    out.chat = await chat;
    out.stream = await stream;
  } else {
    // A warm runtime first: the short deadline below is for the dropped
    // stream, not for threads still starting on a loaded machine.
    await rt.chat(ask);
    const iterator = rt.stream({ ...ask, maxTokens: 10_000 }, { timeoutMs: 1_500 })[Symbol.asyncIterator]();
    out.first = (await iterator.next()).value?.type;
    // Dropped: neither read again nor returned.
  }
  // Written before the process ends; the parent reads it after the exit.
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runChild(mode: ChildMode, workers: number, url: string): Promise<{ code: number | null; signal: string | null; out: string; err: string; killed: boolean }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PARLEY_IDLE_CHILD: mode, PARLEY_IDLE_WORKERS: String(workers), PARLEY_IDLE_URL: url };
  delete env.NODE_TEST_CONTEXT;
  const proc = spawn(process.execPath, [...TS_LOADER, fileURLToPath(import.meta.url)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill('SIGKILL');
  }, EXIT_LIMIT_MS);
  return new Promise((resolve) => {
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err, killed });
    });
  });
}

if (CHILD_MODE) {
  await child(CHILD_MODE);
} else {
  for (const workers of [1, 2]) {
    describe(`an idle runtime lets the process exit (workers: ${workers})`, () => {
      test('a process that chats and streams and never calls shutdown() exits by itself', async () => {
        const server = await startModelServer();
        try {
          const result = await runChild('idle', workers, server.url);
          assert.equal(result.killed, false, `the child did not exit by itself within ${EXIT_LIMIT_MS} ms: ${result.err}`);
          assert.equal(result.code, 0, result.err);
          assert.deepEqual(JSON.parse(result.out), { mode: 'idle', chat: true, stream: true });
        } finally {
          await server.close();
        }
      });

      test('calls in flight keep the process alive until they settle', async () => {
        const server = await startModelServer({ fault: { kind: 'slow-headers', delayMs: 1_500 } });
        try {
          const result = await runChild('in-flight', workers, server.url);
          assert.equal(result.killed, false, result.err);
          assert.equal(result.code, 0, result.err);
          assert.deepEqual(JSON.parse(result.out), { mode: 'in-flight', chat: true, stream: true });
        } finally {
          await server.close();
        }
      });

      test('a stream dropped after one read keeps the process only until its deadline', async () => {
        const server = await startModelServer({ tokenDelayMs: 50 });
        try {
          const result = await runChild('dropped-stream', workers, server.url);
          assert.equal(result.killed, false, `the dropped stream kept the child alive: ${result.err}`);
          assert.equal(result.code, 0, result.err);
          assert.deepEqual(JSON.parse(result.out), { mode: 'dropped-stream', first: 'text' });
        } finally {
          await server.close();
        }
      });
    });
  }
}
