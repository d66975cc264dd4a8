/**
 * The fault matrix: every fault mode of the embedded model server, plus a
 * worker crash, throw and wedge, against chat and against stream; the server
 * faults on each of the three protocols. For each: the right error code (which also says which
 * mechanism settled the call: a deadline, the heartbeat, the crash), and the
 * server's open-connection count back where it was (no leaked sockets).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, ParleyError, type ErrorCode, type Runtime } from '../src/index.ts';
import { startModelServer, type Fault, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { injectWorkerFault, threadServing, withWorkerHooks, type WorkerFault } from './helpers/worker-hooks.ts';
import { testWorkers } from './helpers/workers-mode.ts';
import { PROTOCOLS, providersFor } from './helpers/fixtures.ts';

type Mode = 'chat' | 'stream';

interface Case {
  name: string;
  fault?: Fault;
  refuse?: true;
  worker?: WorkerFault;
  expect: Record<Mode, ErrorCode>;
}

/**
 * The deadline of the cases that end in TIMEOUT: their fault never answers,
 * so any deadline ends them the same way; this one still lets the stall's
 * SSE comments (every 50 ms) come several times, which must not reset it.
 */
const TIMEOUT_MS = 300;
/**
 * The deadline of every other call: far beyond what a loaded machine needs,
 * so that the code a fault ends with is never a TIMEOUT in disguise. For a
 * worker fault, WORKER_CRASHED rather than TIMEOUT then says the crash (or,
 * for a wedge, the heartbeat) settled the call.
 */
const LONG_DEADLINE_MS = 60_000;

/**
 * A worker fault takes the thread down whatever protocol its call speaks, and
 * each costs a worker restart: each runs on one protocol, the three together
 * on all three.
 */
const WORKER_FAULT_PROTOCOL: Partial<Record<WorkerFault, (typeof PROTOCOLS)[number]>> = { crash: 'ollama', throw: 'openai', wedge: 'anthropic' };

function deadlineOf(c: Case, mode: Mode): number {
  return c.expect[mode] === 'TIMEOUT' ? TIMEOUT_MS : LONG_DEADLINE_MS;
}

const cases: Case[] = [
  { name: 'refused connection', refuse: true, expect: { chat: 'UNREACHABLE', stream: 'UNREACHABLE' } },
  { name: 'slow headers', fault: { kind: 'slow-headers', delayMs: 5_000 }, expect: { chat: 'TIMEOUT', stream: 'TIMEOUT' } },
  { name: 'stall with SSE comments', fault: { kind: 'stall', afterTokens: 2, commentEveryMs: 50 }, expect: { chat: 'TIMEOUT', stream: 'TIMEOUT' } },
  { name: 'reset mid-stream', fault: { kind: 'reset', afterTokens: 2 }, expect: { chat: 'CONNECTION', stream: 'CONNECTION' } },
  { name: 'truncated (no end marker)', fault: { kind: 'truncate', afterTokens: 2 }, expect: { chat: 'BAD_RESPONSE', stream: 'INCOMPLETE' } },
  { name: '503 with Retry-After', fault: { kind: 'status', status: 503, retryAfterMs: 20, message: 'overloaded' }, expect: { chat: 'HTTP', stream: 'HTTP' } },
  { name: '400 with a provider message', fault: { kind: 'status', status: 400, message: 'bad request' }, expect: { chat: 'HTTP', stream: 'HTTP' } },
  { name: 'error inside a 200 stream', fault: { kind: 'stream-error', afterTokens: 2, message: 'model fell over' }, expect: { chat: 'PROVIDER', stream: 'PROVIDER' } },
  { name: 'malformed JSON', fault: { kind: 'malformed', afterTokens: 2 }, expect: { chat: 'BAD_RESPONSE', stream: 'BAD_RESPONSE' } },
  { name: 'oversized body', fault: { kind: 'oversized', bytes: 512 * 1024 }, expect: { chat: 'TOO_LARGE', stream: 'TOO_LARGE' } },
  { name: 'worker crash', worker: 'crash', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' } },
  { name: 'worker throw', worker: 'throw', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' } },
  { name: 'worker wedge', worker: 'wedge', expect: { chat: 'WORKER_CRASHED', stream: 'WORKER_CRASHED' } },
];

async function run(rt: Runtime, provider: string, mode: Mode, timeoutMs: number): Promise<ErrorCode | 'ok'> {
  const req = { provider, model: 'parley-echo', messages: [{ role: 'user' as const, content: 'fault matrix' }], maxTokens: 40 };
  const opts = { timeoutMs };
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

for (const kind of PROTOCOLS) {
  describe(`fault matrix (${kind} protocol)`, () => {
    let server: ModelServer;
    let rt: Runtime;
    before(async () => {
      server = await startModelServer();
      rt = await createRuntime({ workers: testWorkers,
        providers: { p: providersFor(server)[kind] },
        maxRetries: 1,
        retryBaseMs: 10,
        maxResponseBytes: 64 * 1024,
        heartbeatIntervalMs: 100,
        heartbeatTimeoutMs: 1_500,
        restart: { maxRestarts: 100, backoffBaseMs: 10 },
        ...withWorkerHooks,
      });
    });
    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    });

    for (const c of cases.filter((c) => !c.worker || WORKER_FAULT_PROTOCOL[c.worker] === kind)) {
      for (const mode of ['chat', 'stream'] as const) {
        test(`${c.name}: ${mode} fails with ${c.expect[mode]}, settles, and leaks no socket`, async (t) => {
          assert.equal(await run(rt, 'p', mode, LONG_DEADLINE_MS), 'ok', 'healthy before the fault');
          const baseline = server.stats().connectionsOpen;
          if (c.refuse) await server.refuse(true);
          if (c.fault) server.setFault(c.fault);
          // A worker fault must meet the call in flight: the server holds its answer.
          if (c.worker) server.setFault({ kind: 'slow-headers', delayMs: LONG_DEADLINE_MS });
          const crashed = c.worker ? once(rt, 'worker-crashed') : undefined;
          const started = performance.now();
          try {
            const served = server.stats().requestsServed;
            // A wedge must be caught by the heartbeat, not by the call's own deadline.
            const outcome = run(rt, 'p', mode, deadlineOf(c, mode));
            if (c.worker) {
              await waitFor(() => server.stats().requestsServed > served, { what: 'request in flight' });
              // In pool mode the fault hits the thread serving the call, as a real one would.
              injectWorkerFault(c.worker, testWorkers > 1 ? { threadId: await threadServing(rt) } : {});
            }
            const code = await outcome;
            // The next call must not be handed to the dying thread before its death is known.
            await crashed;
            // For information only: machines are shared and noisy, so no bound is asserted.
            t.diagnostic(`${kind} ${c.name} ${mode}: ${code} after ${(performance.now() - started).toFixed(0)} ms`);
            assert.equal(code, c.expect[mode]);
          } finally {
            server.setFault(undefined);
            if (c.refuse) await server.refuse(false);
          }
          await waitFor(() => server.stats().connectionsOpen <= baseline, { what: `connections back to ${baseline}` });
          assert.equal(await run(rt, 'p', mode, LONG_DEADLINE_MS), 'ok', 'healthy after the fault');
        });
      }
    }
  });
}
