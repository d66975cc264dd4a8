/**
 * workers: 1. One dedicated provider worker, reached over Comlink. A dead
 * worker is replaced after the restart intensity's backoff; calls made
 * meanwhile wait for the replacement (inside their own deadlines). Each call
 * is tagged with the worker it went to, so a crash fails exactly those calls.
 */
import { NO_TRANSFER } from './comlink-caller.ts';
import type { ParleyError } from '../../shared/errors.ts';
import { toWireError } from '../../shared/error-wire.ts';
import type { PendingCall } from '../pending-calls.ts';
import type { WorkerStats } from '../../shared/protocol.ts';
import { WorkerHandle } from './worker-handle.ts';
import { withDeadline, WorkerTransport, type Work } from './worker-transport.ts';

/** How long a worker that answered the close gets to let its thread exit. */
const EXIT_WAIT_MS = 2_000;
/** How long a wedged worker (it did not answer) gets before it is terminated. */
const WEDGED_EXIT_WAIT_MS = 250;

interface WaitingCall {
  call: PendingCall;
  work: Work;
}

export class ActorTransport extends WorkerTransport {
  #handle: WorkerHandle | undefined;
  #nextWorkerId = 1;
  #restartTimer: NodeJS.Timeout | undefined;
  /** Calls made while no worker is live, in the order they came. */
  #waiting: WaitingCall[] = [];

  /** Starts the first worker at once. */
  constructor(...args: ConstructorParameters<typeof WorkerTransport>) {
    super(...args);
    this.start();
  }

  cancel(call: PendingCall, reason: ParleyError): void {
    const handle = this.#live();
    if (handle && handle.id === call.workerId) void handle.rpc.call('cancel', [call.id, toWireError(reason)]).catch(() => undefined);
  }

  protected start(): void {
    this.#spawn(false);
  }

  protected replace(backoffMs: number): void {
    // Cleared when the transport stops taking work (failed, closed, destroyed).
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#spawn(true);
    }, backoffMs).unref();
  }

  protected deliver(call: PendingCall, work: Work): void {
    const handle = this.#live();
    if (handle) send(handle, call, work);
    else this.#waiting.push({ call, work });
  }

  /** Comlink keeps the order: every call sent after this runs on the new settings. A worker that dies first is replaced with them. */
  protected async sendSettings(generation: number): Promise<void> {
    await this.#live()
      ?.rpc.call('configure', [generation, this.options.providers])
      .catch(() => undefined);
  }

  protected refuseWaiting(err: ParleyError): void {
    clearTimeout(this.#restartTimer);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.call.reject(err);
  }

  protected terminate(workerId: number): void {
    if (this.#handle?.id === workerId) void this.#handle.terminate();
  }

  protected async collectStats(deadlineMs: number): Promise<WorkerStats[]> {
    const handle = this.#live();
    if (!handle) return [];
    const figures = await withDeadline(handle.rpc.call('stats', []), deadlineMs);
    return figures ? [figures] : [];
  }

  protected async closeWorkers(ms: number): Promise<boolean> {
    const handle = this.#live();
    if (!handle) return true;
    const started = performance.now();
    const remaining = () => Math.max(100, ms - (performance.now() - started));
    const answered = await withDeadline(handle.rpc.call('close', []), ms);
    // Nothing left open (provider/open-resources.ts): the thread's exit is
    // only V8 tearing it down, which can wait ~200 ms for a background
    // compile. shutdown() does not wait for it; the thread is unref'd, and
    // is terminated should it somehow still be there after EXIT_WAIT_MS.
    if (answered?.openResources?.length === 0) {
      handle.reapAfter(EXIT_WAIT_MS);
      return true;
    }
    // Answered with something still open: its exit is worth waiting for, even
    // past the grace time on a loaded machine. One that did not answer is
    // wedged: terminate it.
    const exitWait = answered ? Math.max(EXIT_WAIT_MS, remaining()) : WEDGED_EXIT_WAIT_MS;
    return (await withDeadline(handle.exited(), exitWait)) !== undefined;
  }

  protected async destroyWorkers(): Promise<void> {
    clearTimeout(this.#restartTimer);
    await this.#handle?.terminate();
  }

  protected override ping(): void {
    this.#live()?.ping();
  }

  /** The worker, while it is alive. */
  #live(): WorkerHandle | undefined {
    const handle = this.#handle;
    return handle && this.isLive(handle.id) ? handle : undefined;
  }

  #spawn(replacement: boolean): void {
    const handle = new WorkerHandle(this.#nextWorkerId++, this.options, this.generation, this);
    this.#handle = handle;
    this.adopt(handle.id, replacement);
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) send(handle, w.call, w.work);
  }
}

/** The call's answer goes straight to the call (a PendingCall is a Comlink caller's WaitingCall). */
function send(handle: WorkerHandle, call: PendingCall, work: Work): void {
  // A call that ended while it waited for a restarted worker is not sent.
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
