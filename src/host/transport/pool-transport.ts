/**
 * workers > 1. N provider workers as a piscina pool behind the same Runtime
 * API. Piscina places each call on the least-busy thread and replaces a
 * thread that dies; parley adds what piscina lacks: a bounded queue whose
 * entries can be aborted, cooperative cancel (piscina's own abort would
 * terminate a thread running other calls), heartbeats that catch a wedged
 * thread, restart intensity, and a graceful close of every thread's Agents.
 */
import { BroadcastChannel, type Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { Piscina } from 'piscina';

/** Piscina does not export its balancer's worker type: this is the part of it parley reads. */
type PiscinaWorker = Parameters<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer'] & {}>[1][number];
import { ParleyError } from '../../shared/errors.ts';
import { fromWireError, toWireError } from '../../shared/error-wire.ts';
import type { ResolvedOptions } from '../options.ts';
import type { PendingCall } from '../pending-calls.ts';
import type { PoolControl, PoolInit, PoolReply, PoolTask, WorkerStats } from '../../shared/protocol.ts';
import { RestartIntensity } from './restart-intensity.ts';
import type { TransportHooks, TransportState, CrashRecord, Work, WorkerTransport } from './worker-transport.ts';
import { workerExecArgv, workerScript } from './worker-entry.ts';

/** How long a new thread may take to load before its silence counts as a wedge. */
const STARTUP_ALLOWANCE_MS = 15_000;
const STATS_DEADLINE_MS = 1_000;
const CLOSE_REPEAT_MS = 100;

interface Queued {
  call: PendingCall;
  work: Work;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

interface Thread {
  worker: Worker;
  lastBeat: number;
  /** Its first heartbeat arrived: it runs parley's code (and 'worker-started' was told). */
  answered: boolean;
  /** It replaced a thread that died. */
  replacement: boolean;
}

export class PoolTransport implements WorkerTransport {
  readonly #options: ResolvedOptions;
  readonly #hooks: TransportHooks;
  readonly #control: BroadcastChannel;
  readonly #channelName = `parley-pool-${randomUUID()}`;
  #pool: Piscina<PoolTask, PoolReply>;
  readonly #threads = new Map<number, Thread>();
  /** Threads declared dead (exited, or wedged and being terminated): never given another call. */
  readonly #condemned = new Set<number>();
  readonly #earlyBeats = new Map<number, number>();
  #queue: Queued[] = [];
  #running = 0;
  #state: TransportState = 'running';
  #restarts = 0;
  readonly #budget: RestartIntensity;
  #lastCrash: CrashRecord | undefined;
  #statsSeq = 0;
  /** Threads started by the current pool: beyond `workers`, each is a replacement. */
  #spawned = 0;
  readonly #statsWaiters = new Map<number, (stats: WorkerStats) => void>();
  readonly #closedWaiters = new Set<(workerId: number) => void>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: ResolvedOptions, hooks: TransportHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#budget = new RestartIntensity(options.restart);
    this.#control = new BroadcastChannel(this.#channelName);
    this.#control.unref();
    this.#control.onmessage = (event) => this.#onControl((event as unknown as { data: PoolControl }).data);
    this.#pool = this.#createPool();
    this.#timer = setInterval(() => this.#checkHeartbeats(), options.heartbeatIntervalMs).unref();
  }

  /** Calls the pool runs at once; I/O-bound calls share a thread well. */
  get #capacity(): number {
    return this.#options.workers * this.#options.concurrencyPerWorker;
  }

  get state(): TransportState {
    return this.#state;
  }
  get restarts(): number {
    return this.#restarts;
  }
  get lastCrash(): CrashRecord | undefined {
    return this.#lastCrash;
  }

  dispatch(call: PendingCall, work: Work): void {
    this.#dispatch(call, work).then(
      (value) => call.resolve(value),
      (err: unknown) => call.reject(err),
    );
  }

  #dispatch(call: PendingCall, work: Work): Promise<unknown> {
    if (this.#state === 'failed') return Promise.reject(this.#budget.failedError());
    if (this.#state === 'closed') return Promise.reject(new ParleyError('SHUTDOWN', 'the runtime is shut down'));
    if (this.#running < this.#capacity) return this.#run(call, work);
    if (this.#queue.length >= this.#options.maxQueue) {
      return Promise.reject(
        new ParleyError('QUEUE_FULL', `the call queue is full (${this.#queue.length} waiting, ${this.#running} running, maxQueue ${this.#options.maxQueue})`, {
          retryable: true,
        }),
      );
    }
    return new Promise((resolve, reject) => this.#queue.push({ call, work, resolve, reject }));
  }

  cancel(call: PendingCall, reason: ParleyError): void {
    const index = this.#queue.findIndex((q) => q.call === call);
    if (index >= 0) {
      // Never started: it just leaves the queue; later calls move up.
      this.#queue.splice(index, 1);
      return;
    }
    this.#post({ type: 'cancel', callId: call.id, reason: toWireError(reason) });
  }

  async stats(): Promise<WorkerStats[]> {
    const seq = ++this.#statsSeq;
    const expected = this.#threads.size;
    const collected: WorkerStats[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, STATS_DEADLINE_MS);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#statsWaiters.set(seq, (stats) => {
        collected.push(stats);
        if (collected.length >= expected) done();
      });
      this.#post({ type: 'stats-request', seq });
      if (expected === 0) done();
    });
    this.#statsWaiters.delete(seq);
    return collected.sort((a, b) => a.workerId - b.workerId);
  }

  restart(): void {
    if (this.#state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    this.#budget.reset();
    if (this.#state === 'failed') {
      this.#state = 'running';
      this.#spawned = 0;
      this.#pool = this.#createPool();
    }
  }

  async close(ms: number): Promise<{ forced: boolean }> {
    this.#state = 'closed';
    clearInterval(this.#timer);
    for (const q of this.#queue.splice(0)) q.reject(new ParleyError('SHUTDOWN', 'the runtime is shutting down'));
    const pending = new Set(this.#threads.keys());
    const allClosed = new Promise<void>((resolve) => {
      const waiter = (workerId: number) => {
        pending.delete(workerId);
        if (pending.size === 0) resolve();
      };
      this.#closedWaiters.add(waiter);
      if (pending.size === 0) resolve();
    });
    // A thread still loading its modules is not listening yet and would miss
    // a single broadcast: repeat it until every thread has answered.
    this.#post({ type: 'close' });
    const repeat = setInterval(() => this.#post({ type: 'close' }), CLOSE_REPEAT_MS);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      allClosed.then(() => false),
      // Shutdown is awaited by the host: this timer keeps the process alive until it is done.
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms))),
    ]);
    clearTimeout(timer);
    clearInterval(repeat);
    // Every thread has aborted its calls and closed its Agents (or ran out of
    // time); piscina then retires the threads, which hold nothing any more.
    await this.#pool.destroy();
    this.#control.close();
    return { forced: timedOut };
  }

  #createPool(): Piscina<PoolTask, PoolReply> {
    const script = workerScript('provider-task');
    const init: PoolInit = {
      providers: this.#options.providers,
      transport: this.#options.transport,
      controlChannel: this.#channelName,
      heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      nice: this.#options.workerNice,
    };
    const pool = new Piscina<PoolTask, PoolReply>({
      filename: script.filename,
      argv: script.argv,
      execArgv: workerExecArgv(this.#options.workerExecArgv),
      minThreads: this.#options.workers,
      maxThreads: this.#options.workers,
      // Threads own long-lived Agents: they must never be reaped for idleness.
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: this.#options.concurrencyPerWorker,
      loadBalancer: (_task, workers) => this.#leastLoaded(workers),
      // Atomics.wait between tasks would block the thread's event loop, and
      // with it every socket and heartbeat the thread owns.
      atomics: 'disabled',
      resourceLimits: this.#options.resourceLimits,
      workerData: init,
      name: 'default',
    });
    pool.on('workerCreate', () => this.#adoptThreads(pool));
    // A thread that fails with no task running would otherwise be an unhandled 'error' event.
    pool.on('error', () => undefined);
    return pool;
  }

  /** Piscina announces new threads without their Worker objects: find and watch them. */
  #adoptThreads(pool: Piscina<PoolTask, PoolReply>): void {
    for (const worker of pool.threads) {
      if (this.#threads.has(worker.threadId)) continue;
      const threadId = worker.threadId;
      const replacement = ++this.#spawned > this.#options.workers;
      const thread: Thread = { worker, lastBeat: Date.now(), answered: false, replacement };
      this.#threads.set(threadId, thread);
      if (this.#earlyBeats.delete(threadId)) this.#beat(thread, threadId);
      worker.once('exit', (code) => this.#onExit(pool, threadId, `worker exited with code ${code}`));
      worker.once('error', (err) => this.#onExit(pool, threadId, `worker threw: ${err.message}`));
    }
  }

  /**
   * Piscina's own balancer, minus the threads parley has declared dead:
   * piscina still sees a wedged thread as idle until its exit arrives.
   * No candidate means the task waits in piscina for a replacement.
   */
  #leastLoaded(workers: PiscinaWorker[]): PiscinaWorker | null {
    let best: PiscinaWorker | null = null;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed || this.#condemned.has(worker.id)) continue;
      if (worker.currentUsage >= this.#options.concurrencyPerWorker) continue;
      if (best === null || worker.currentUsage < best.currentUsage) best = worker;
      if (worker.currentUsage === 0) break;
    }
    return best;
  }

  #onExit(pool: Piscina<PoolTask, PoolReply>, threadId: number, reason: string): void {
    this.#condemned.add(threadId);
    if (!this.#threads.delete(threadId)) return;
    if (this.#state === 'closed' || pool !== this.#pool) return;
    this.#lastCrash = { workerId: threadId, reason, at: new Date().toISOString() };
    this.#hooks.crashed(threadId, reason);
    // Piscina restarts at once: the budget's backoff does not apply, its bound does.
    if (this.#budget.crashed(reason) === undefined) {
      this.#state = 'failed';
      for (const q of this.#queue.splice(0)) q.reject(this.#budget.failedError());
      this.#threads.clear();
      void pool.destroy();
      this.#hooks.failed(this.#budget.failure!);
      return;
    }
    // Piscina has already started the replacement.
    this.#restarts++;
  }

  #run(call: PendingCall, work: Work): Promise<unknown> {
    if (call.settled) return Promise.resolve(undefined);
    const meta = { callId: call.id, deadlineAt: call.deadlineAt };
    let task: PoolTask;
    let transferList: Parameters<Piscina['run']>[1] = {};
    if (work.kind === 'stream') {
      task = { kind: 'stream', meta, provider: work.provider, req: work.req, port: work.port };
      transferList = { transferList: [work.port] as never };
    } else {
      task = { ...work, meta } as PoolTask;
    }
    this.#running++;
    return this.#pool.run(task, transferList).then(
      (reply) => {
        this.#done();
        if (reply.ok) return reply.value;
        throw fromWireError(reply.error);
      },
      (err: unknown) => {
        this.#done();
        // A task the structured clone refuses never left this thread: the
        // request is at fault, not a worker.
        if ((err as Error)?.name === 'DataCloneError') {
          throw new ParleyError('INVALID_REQUEST', `the request could not be sent to a provider worker: ${(err as Error).message}`);
        }
        // Otherwise piscina rejects the tasks of a thread that died.
        const reason = err instanceof Error ? err.message : String(err);
        throw new ParleyError('WORKER_CRASHED', `pool worker died while serving the call: ${reason}`);
      },
    );
  }

  #done(): void {
    this.#running--;
    while (this.#queue.length > 0 && this.#running < this.#capacity) {
      const next = this.#queue.shift()!;
      if (next.call.settled) continue;
      this.#run(next.call, next.work).then(next.resolve, next.reject);
    }
  }

  #onControl(msg: PoolControl): void {
    if (msg.type === 'beat') {
      const thread = this.#threads.get(msg.workerId);
      // A thread beats as soon as it has loaded, which can be before piscina
      // announces it: keep that first beat for when it is adopted.
      if (!thread) this.#earlyBeats.set(msg.workerId, Date.now());
      else this.#beat(thread, msg.workerId);
    } else if (msg.type === 'stats') {
      this.#statsWaiters.get(msg.seq)?.(msg.stats);
    } else if (msg.type === 'closed') {
      for (const waiter of this.#closedWaiters) waiter(msg.workerId);
    }
  }

  #beat(thread: Thread, threadId: number): void {
    thread.lastBeat = Date.now();
    if (thread.answered) return;
    thread.answered = true;
    this.#hooks.started(threadId);
    if (thread.replacement) this.#hooks.restarted(threadId);
  }

  #checkHeartbeats(): void {
    if (this.#state !== 'running') return;
    const now = Date.now();
    for (const [threadId, thread] of this.#threads) {
      const allowed = thread.answered ? this.#options.heartbeatTimeoutMs : Math.max(STARTUP_ALLOWANCE_MS, this.#options.heartbeatTimeoutMs);
      if (now - thread.lastBeat <= allowed) continue;
      const silence = now - thread.lastBeat;
      // Terminating it makes piscina fail its calls and start a replacement.
      this.#onExit(this.#pool, threadId, `worker missed heartbeats for ${silence} ms (event loop blocked)`);
      void thread.worker.terminate();
    }
  }

  #post(msg: PoolControl): void {
    this.#control.postMessage(msg);
  }
}
