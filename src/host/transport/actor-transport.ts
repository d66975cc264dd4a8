/**
 * workers: 1. One dedicated provider worker, reached over Comlink, kept
 * alive by the Supervisor. Calls are tagged with the worker they went to, so
 * a crash fails exactly those calls, at once.
 */
import { NO_TRANSFER } from './comlink-caller.ts';
import { ParleyError } from '../../shared/errors.ts';
import { toWireError } from '../../shared/error-wire.ts';
import type { ResolvedOptions } from '../options.ts';
import type { PendingCall } from '../pending-calls.ts';
import type { WorkerStats } from '../../shared/protocol.ts';
import { Supervisor } from './supervisor.ts';
import type { TransportHooks, TransportState, CrashRecord, Work, WorkerTransport } from './worker-transport.ts';
import type { WorkerHandle } from './worker-handle.ts';

/** stats() asks the worker for socket figures but never waits long for them. */
const STATS_DEADLINE_MS = 1_000;
/** The least time a worker gets to answer the graceful close, however little grace is left. */
const MIN_CLOSE_WAIT_MS = 250;
const EXIT_WAIT_MS = 2_000;

export class ActorTransport implements WorkerTransport {
  readonly #supervisor: Supervisor;

  /** `failCallsOf` fails the calls sent to a worker and says how many there were. */
  constructor(options: ResolvedOptions, hooks: TransportHooks, failCallsOf: (workerId: number, err: ParleyError) => number) {
    this.#supervisor = new Supervisor(options, {
      started: hooks.started,
      crashed: (handle, reason) => {
        const failed = failCallsOf(handle.id, new ParleyError('WORKER_CRASHED', `provider worker ${handle.id} died: ${reason}`));
        hooks.crashed(handle.id, reason, failed);
      },
      restarted: hooks.restarted,
      failed: hooks.failed,
    });
  }

  get state(): TransportState {
    return this.#supervisor.state;
  }
  get restarts(): number {
    return this.#supervisor.restarts;
  }
  get lastCrash(): CrashRecord | undefined {
    return this.#supervisor.lastCrash;
  }

  dispatch(call: PendingCall, work: Work): void {
    let acquired: WorkerHandle | Promise<WorkerHandle>;
    try {
      acquired = this.#supervisor.acquire();
    } catch (err) {
      return call.reject(err);
    }
    if (acquired instanceof Promise) {
      acquired.then(
        (handle) => send(handle, call, work),
        (err: unknown) => call.reject(err),
      );
    } else send(acquired, call, work);
  }

  cancel(call: PendingCall, reason: ParleyError): void {
    const handle = this.#supervisor.handle;
    if (handle && handle.id === call.workerId) void handle.rpc.call('cancel', [call.id, toWireError(reason)]).catch(() => undefined);
  }

  async stats(): Promise<WorkerStats[]> {
    const handle = this.#supervisor.handle;
    if (!handle) return [];
    const figures = await withTimeout(handle.rpc.call('stats', []), STATS_DEADLINE_MS);
    return figures ? [figures] : [];
  }

  restart(): void {
    this.#supervisor.restart();
  }

  async close(ms: number): Promise<{ forced: boolean }> {
    const started = performance.now();
    const remaining = () => Math.max(100, ms - (performance.now() - started));
    const handle = this.#supervisor.close();
    if (!handle) return { forced: false };
    const answered = await withTimeout(handle.rpc.call('close', []), Math.max(MIN_CLOSE_WAIT_MS, remaining()));
    // A worker that answered close() is alive and has nothing left open: its
    // exit is only thread teardown, worth waiting for even past the grace time
    // on a loaded machine. One that did not answer is wedged: terminate it.
    const exitWait = answered ? Math.max(EXIT_WAIT_MS, remaining()) : MIN_CLOSE_WAIT_MS;
    if ((await withTimeout(handle.exited(), exitWait)) !== undefined) return { forced: false };
    await handle.terminate();
    return { forced: true };
  }
}

/** The call's answer goes straight to the call (a PendingCall is a Comlink caller's Waiting). */
function send(handle: WorkerHandle, call: PendingCall, work: Work): void {
  // A call that settled while it waited for a restarted worker is not sent.
  if (call.settled) return;
  call.workerId = handle.id;
  const meta = { callId: call.id, deadlineAt: call.deadlineAt };
  switch (work.kind) {
    case 'chat':
      return handle.rpc.send('chat', [meta, work.provider, work.req], NO_TRANSFER, call);
    case 'stream':
      return handle.rpc.send('stream', [meta, work.provider, work.req, work.port], [work.port], call);
    case 'models':
      return handle.rpc.send('models', [meta, work.provider], NO_TRANSFER, call);
    case 'health':
      return handle.rpc.send('health', [meta, work.provider], NO_TRANSFER, call);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}
