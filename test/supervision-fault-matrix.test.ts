/**
 * The fault matrix: every fault mode of the embedded model server, plus a
 * worker crash, throw and wedge, against chat and against stream. For each:
 * the right error code, the time to settle, and the server's open-connection
 * count back where it was (no leaked sockets).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, ParleyError, type ErrorCode, type Runtime } from '../src/index.ts';
import { startModelServer, type Fault, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, threadServing, withWorkerHooks, type WorkerFault } from './helpers/worker-hooks.ts';
import { testWorkers } from './helpers/workers-mode.ts';

type Mode = 'chat' | 'stream';

interface Case {
  name: string;
  fault?: Fault;
  refuse?: true;
  worker?: WorkerFault;
  expect: Record<Mode, ErrorCode>;
  /** Generous upper bound on the time to settle, in ms. */
  settleWithinMs: number;
}

const TIMEOUT_MS = 800;

const cases: Case[] = [
  { name: 'refused connection', refuse: true, expect: { chat: 'UNREACHABLE', stream: 'UNREACHABLE' }, settleWithinMs: 2_000 },
  { name: 'slow headers', fault: { kind: 'slow-headers', delayMs: 5_000 }, expect: { chat: 'TIMEOUT', stream: 'TIMEOUT' }, settleWithinMs: TIMEOUT_MS + 1_000 },
  { name: 'stall with SSE comments', fault: { kind: 'stall', afterTokens: 2, commentEveryMs: 50 }, expect: { chat: 'TIMEOUT', stream: 'TIMEOUT' }, settleWithinMs: TIMEOUT_MS + 1_000 },
  { name: 'reset mid-stream', fault: { kind: 'reset', afterTokens: 2 }, expect: { chat: 'CONNECTION', stream: 'CONNECTION' }, settleWithinMs: 2_000 },
  { name: 'truncated (no end marker)', fault: { kind: 'truncate', afterTokens: 2 }, expect: { chat: 'BAD_RESPONSE', stream: 'INCOMPLETE' }, settleWithinMs: 2_000 },
  { name: '503 with Retry-After', fault: { kind: 'status', status: 503, retryAfterMs: 20, message: 'overloaded' }, expect: { chat: 'HTTP', stream: 'HTTP' }, settleWithinMs: 2_000 },
  { name: '400 with a provider message', fault: { kind: 'status', status: 400, message: 'bad request' }, expect: { chat: 'HTTP', stream: 'HTTP' }, settleWithinMs: 2_000 },
  { name: 'error inside a 200 stream', fault: { kind: 'stream-error', afterTokens: 2, message: 'model fell over' }, expect: { chat: 'PROVIDER', stream: 'PROVIDER' }, settleWithinMs: 2_000 },
  { name: 'malformed JSON', fault: { kind: 'malformed', afterTokens: 2 }, expect: { chat: 'BAD_RESPONSE', stream: 'BAD_RESPONSE' }, settleWithinMs: 2_000 },
  { name: 'oversized body', fault: { kind: 'oversized', bytes: 512 * 1024 }, expect: { chat: 'TOO_LARGE', stream: 'TOO_LARGE' }, settleWithinMs: 2_000 },
  { name: 'worker crash', worker: 'crash', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' }, settleWithinMs: 1_000 },
  // A pool thread that throws sometimes takes longer to report its exit than
  // the heartbeat takes to notice it stopped: either way it settles.
  { name: 'worker throw', worker: 'throw', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' }, settleWithinMs: testWorkers > 1 ? 1_000 + 2_000 : 1_000 },
  { name: 'worker wedge', worker: 'wedge', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' }, settleWithinMs: 1_000 + 2_000 },
];

/** `timeoutMs` overrides the runtime's short deadline for the health checks around a fault (a replacement worker may still be loading). */
async function run(rt: Runtime, provider: string, mode: Mode, timeoutMs?: number): Promise<ErrorCode | 'ok'> {
  const req = { provider, model: 'parley-echo', messages: [{ role: 'user' as const, content: 'fault matrix' }], maxTokens: 40 };
  const opts = timeoutMs === undefined ? {} : { timeoutMs };
  try {
    if (mode === 'chat') await rt.chat(req, opts);
    else for await (const _ of rt.stream(req, opts)) {
      // consume every event
    }
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof ParleyError, `a ParleyError, not ${String(err)}`);
    return err.code;
  }
}

for (const kind of ['openai', 'ollama'] as const) {
  describe(`fault matrix (${kind} protocol)`, () => {
    let server: ModelServer;
    let rt: Runtime;
    before(async () => {
      server = await startModelServer();
      rt = await createRuntime({ workers: testWorkers,
        providers: { p: kind === 'openai' ? { kind, baseUrl: `${server.url}/v1` } : { kind, baseUrl: server.url } },
        timeoutMs: TIMEOUT_MS,
        maxRetries: 1,
        retryBaseMs: 10,
        maxResponseBytes: 64 * 1024,
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 1_000,
        restart: { maxRestarts: 100, backoffBaseMs: 10 },
        ...withWorkerHooks,
      });
    });
    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    });

    for (const c of cases) {
      for (const mode of ['chat', 'stream'] as const) {
        test(`${c.name}: ${mode} fails with ${c.expect[mode]}, settles, and leaks no socket`, async (t) => {
          assert.equal(await run(rt, 'p', mode, 15_000), 'ok', 'healthy before the fault');
          const baseline = server.stats().connectionsOpen;
          if (c.refuse) await server.refuse(true);
          if (c.fault) server.setFault(c.fault);
          // A worker fault must meet the call in flight: the server holds its answer.
          if (c.worker) server.setFault({ kind: 'slow-headers', delayMs: 5_000 });
          const crashed = c.worker ? once(rt, 'worker-crashed') : undefined;
          const started = performance.now();
          try {
            // A wedge must be caught by the heartbeat, not by the call's own deadline.
            const outcome = run(rt, 'p', mode, c.worker ? 10_000 : undefined);
            if (c.worker) {
              const served = server.stats().requestsServed;
              await waitFor(() => server.stats().requestsServed > served, { what: 'request in flight' });
              // In pool mode the fault hits the thread serving the call, as a real one would.
              injectWorkerFault(c.worker, testWorkers > 1 ? { threadId: await threadServing(rt) } : {});
            }
            const code = await outcome;
            // The next call must not be handed to the dying thread before its death is known.
            await crashed;
            const settleMs = performance.now() - started;
            t.diagnostic(`${kind} ${c.name} ${mode}: ${code} after ${settleMs.toFixed(0)} ms`);
            assert.equal(code, c.expect[mode]);
            assert.ok(settleMs < c.settleWithinMs, `settled in ${settleMs.toFixed(0)} ms (bound ${c.settleWithinMs} ms)`);
          } finally {
            server.setFault(undefined);
            if (c.refuse) await server.refuse(false);
          }
          await waitFor(() => server.stats().connectionsOpen <= baseline, {
            what: `connections back to ${baseline} (now ${server.stats().connectionsOpen})`,
          });
          assert.equal(await run(rt, 'p', mode, 15_000), 'ok', 'healthy after the fault');
        });
      }
    }
  });
}
