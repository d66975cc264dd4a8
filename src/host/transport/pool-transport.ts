/**
 * workers > 1. N provider workers as a piscina pool behind the same Runtime
 * API. Piscina places each call on the least-busy thread and replaces a
 * thread that dies at once; parley adds what piscina lacks: a bounded queue
 * whose entries can be aborted, cooperative cancel (piscina's own abort would
 * terminate a thread running other calls), and a graceful close of every
 * thread's Agents. Heartbeats, cancels, stats and close travel on the
 * pool's control channel (pool-control-channel.ts), since piscina gives no
 * way to address one thread.
 */
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ParleyError } from '../../shared/errors.ts';
import { fromWireError, toWireError, type WireError } from '../../shared/error-wire.ts';
import type { PendingCall } from '../pending-calls.ts';
import type { PoolInit, PoolReply, PoolTask, WorkerStats } from '../../shared/protocol.ts';
import { PoolControlChannel } from './pool-control-channel.ts';
import { workerExecArgv, workerScript } from './worker-entry.ts';
import { TimeSlicer } from '../../wire/time-slicer.ts';
import { WorkerTransport, type Work } from './worker-transport.ts';

/** Piscina does not export its balancer's types: these are the parts parley reads. */
type Balancer = NonNullable<NonNullable<ConstructorParameters<typeof Piscina>[0]>['loadBalancer']>;
type PiscinaTask = Parameters<Balancer>[0];
type PiscinaWorker = Parameters<Balancer>[1][number];

/**
 * A task carries its PendingCall under piscina's queue-options symbol, the
 * one property piscina hands from a task to the balancer (structured clone
 * leaves symbol keys behind): so the balancer knows which call it places on
 * which thread, and a thread's death fails exactly its calls.
 */
const CALL = Piscina.queueOptionsSymbol;

interface Queued {
  call: PendingCall;
  work: Work;
}

export class PoolTransport extends WorkerTransport {
  readonly #control: PoolControlChannel;
  #pool!: Piscina<PoolTask, PoolReply>;
  /** The current pool's destruction, once begun: piscina's destroy() must not run twice at once. */
  #poolDestroyed: Promise<void> | undefined;
  readonly #threads = new Map<number, Worker>();
  /** Every thread ever adopted (#adoptThreads). */
  readonly #adopted = new WeakSet<Worker>();
  /** Threads that beat before piscina announced them: their beat counts once they are adopted. */
  readonly #earlyBeats = new Set<number>();
  #queue: Queued[] = [];
  #running = 0;
  /**
   * Calls whose piscina task has not settled, by call id, with the cancel
   * sent for it (null: none). A cancel reaches only a thread that listens
   * and already runs the call: one sent while a thread is still starting, or
   * before the task reached it, is lost. So a cancel is sent again at every
   * thread's first beat and at every heartbeat tick until its task settles.
   */
  readonly #tasks = new Map<number, WireError | null>();
  readonly #slicer = new TimeSlicer();
  /** Threads started by the current pool: beyond `workers`, each is a replacement. */
  #spawned = 0;
  /** Set when the current pool replaces one piscina stopped refilling: its first threads are replacements too. */
  #restarted = false;
  /** The pending start of a pool that replaces one piscina stopped refilling (#refillUnlessPiscinaWill). */
  #restartTimer: NodeJS.Timeout | undefined;
  /** The backoff of the last crash, for such a restart. */
  #backoffMs = 0;
  /** Pools replaced that way: a call they never placed on a thread runs on the next pool. */
  readonly #retired = new WeakSet<Piscina<PoolTask, PoolReply>>();
  /** Pools destroyed (replaced, failed, closed): any thread piscina still starts in one is stopped at once (#stopStrays). */
  readonly #destroyed = new WeakSet<Piscina<PoolTask, PoolReply>>();

  /** Starts the pool's threads at once. */
  constructor(...args: ConstructorParameters<typeof WorkerTransport>) {
    super(...args);
    this.#control = new PoolControlChannel((workerId, generation) => this.#onBeat(workerId, generation));
    this.start();
  }

  /** Calls the pool runs at once; I/O-bound calls share a thread well. */
  get #capacity(): number {
    return this.options.workers * this.options.concurrencyPerWorker;
  }

  cancel(call: PendingCall, reason: ParleyError): void {
    const index = this.#queue.findIndex((q) => q.call === call);
    if (index >= 0) {
      // Never started: it just leaves the queue; later calls move up.
      this.#queue.splice(index, 1);
      return;
    }
    const wire = toWireError(reason);
    if (this.#tasks.has(call.id)) this.#tasks.set(call.id, wire);
    this.#control.post({ type: 'cancel', callId: call.id, reason: wire });
  }

  protected start(): void {
    this.#startPool(false);
  }

  /** `restarted`: the pool replaces one piscina stopped refilling, so its threads are replacements. */
  #startPool(restarted: boolean): void {
    this.#spawned = 0;
    this.#restarted = restarted;
    this.#poolDestroyed = undefined;
    this.#pool = this.#createPool();
  }

  /**
   * Piscina has usually started the replacement already: the backoff does
   * not apply, the intensity's bound does. When it has not (a thread that
   * died while loading), the pool is started anew after the backoff.
   */
  protected replace(backoffMs: number): void {
    this.#backoffMs = backoffMs;
    this.#refillUnlessPiscinaWill(this.#pool);
  }

  /**
   * Piscina replaces a thread that dies only if the thread had loaded the
   * entry; once one of a pool's threads dies while loading, piscina starts
   * no more threads for that pool (its workerFailsDuringBootstrap). A pool
   * left without threads would then serve nothing and, at start, keep
   * createRuntime waiting forever: it is replaced by a new pool after the
   * crash's backoff, as the actor's worker is, and each death counts
   * towards the restart intensity, which ends the loop for an entry that
   * can never load (createRuntime rejects with WORKER_CRASHED). A pool that
   * still has threads keeps serving with fewer: a new pool would fail the
   * calls they run. At start, createRuntime then waits only for those.
   */
  #refillUnlessPiscinaWill(pool: Piscina<PoolTask, PoolReply>): void {
    if (pool !== this.#pool || this.#restartTimer !== undefined) return;
    // During a shutdown's grace too: calls queued for the new pool are served within it, as the actor's replacement serves its waiting calls.
    if (!this.supervising) return;
    const threads = pool.threads.length;
    if (threads >= this.options.workers) return;
    // A thread declared dead but not yet exited is still counted by piscina:
    // this runs again at its exit.
    if (threads > 0) return this.expectThreads(threads);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (pool !== this.#pool || !this.supervising) return;
      this.#retired.add(pool);
      void this.#destroy(pool).catch(() => undefined);
      this.#startPool(true);
      this.#startQueued();
    }, this.#backoffMs).unref();
  }

  protected deliver(call: PendingCall, work: Work): void {
    // No thread will come from the current pool: the call waits for the next one.
    if (this.#running < this.#capacity && this.#restartTimer === undefined) return this.#run(call, work);
    if (this.#queue.length >= this.options.maxQueue) {
      const { maxQueue } = this.options;
      return call.reject(
        new ParleyError('QUEUE_FULL', `the call queue is full (${this.#queue.length} waiting, ${this.#running} running, maxQueue ${maxQueue})`, {
          retryable: true,
        }),
      );
    }
    this.#queue.push({ call, work });
  }

  /**
   * Broadcast to every thread; a task carries its generation, so a thread
   * that has not heard yet waits for it. A thread behind (started later
   * with the pool's first workerData, or one that missed the broadcast
   * while loading) says so in its beats and is told again.
   */
  protected async sendSettings(generation: number): Promise<void> {
    this.#control.post({ type: 'configure', generation, providers: this.options.providers });
  }

  protected refuseWaiting(err: ParleyError): void {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    for (const q of this.#queue.splice(0)) q.call.reject(err);
  }

  protected terminate(workerId: number): void {
    const worker = this.#threads.get(workerId);
    this.#threads.delete(workerId);
    // Piscina then fails the thread's tasks (already failed here) and starts a replacement.
    void worker?.terminate();
  }

  protected collectStats(deadlineMs: number): Promise<WorkerStats[]> {
    return this.#control.collectStats(this.#threads.size, deadlineMs);
  }

  protected async closeWorkers(ms: number): Promise<boolean> {
    const closed = await this.#control.closeAll(this.#threads.keys(), ms);
    // Every thread has aborted its calls and closed its Agents (or ran out of
    // time); piscina then retires the threads, which hold nothing any more.
    // Threads that all answered are not waited for while V8 tears them down
    // (their exits can wait for a background compile of undici's wasm, as
    // the actor's can); piscina has unref'd them, so they never keep the
    // process alive. Threads that did not answer are waited for.
    if (closed) void this.destroyWorkers().catch(() => undefined);
    else await this.destroyWorkers();
    this.#control.close();
    return closed;
  }

  protected destroyWorkers(): Promise<void> {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    this.#threads.clear();
    this.#poolDestroyed ??= this.#destroy(this.#pool);
    return this.#poolDestroyed;
  }

  #destroy(pool: Piscina<PoolTask, PoolReply>): Promise<void> {
    this.#destroyed.add(pool);
    return pool.destroy();
  }

  /**
   * Piscina's destroy() waits only for the threads still on its list; one it
   * dropped at its 'error' exits later, and that exit, once destroy() has
   * finished, makes piscina start new threads in the destroyed pool. They
   * would outlive the runtime (and a failed runtime would report them
   * restarted): they are terminated as soon as piscina reports a change.
   */
  #stopStrays(pool: Piscina<PoolTask, PoolReply>): void {
    for (const worker of pool.threads) void worker.terminate();
  }

  #createPool(): Piscina<PoolTask, PoolReply> {
    const script = workerScript(this.options.workerEntry);
    const init: PoolInit = {
      providers: this.options.providers,
      generation: this.generation,
      http: this.options.http,
      controlChannel: this.#control.name,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      nice: this.options.workerNice,
    };
    const pool = new Piscina<PoolTask, PoolReply>({
      filename: script.filename,
      argv: script.argv,
      execArgv: workerExecArgv(this.options.workerExecArgv, script),
      minThreads: this.options.workers,
      maxThreads: this.options.workers,
      // Threads own long-lived Agents: they must never be reaped for idleness.
      idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: this.options.concurrencyPerWorker,
      loadBalancer: (task, workers) => this.#place(task, workers),
      // Atomics.wait between tasks would block the thread's event loop, and
      // with it every socket and heartbeat the thread owns.
      atomics: 'disabled',
      resourceLimits: this.options.resourceLimits,
      workerData: init,
      name: 'default',
    });
    pool.on('workerCreate', () => this.#adoptThreads(pool));
    // Every thread piscina drops, including a replacement that died while
    // loading, which piscina never announced; by the next turn piscina has
    // started its own replacement, if it will.
    // Its replacement is adopted at once, not when piscina announces it
    // (only once it has loaded): a replacement that hangs while loading is
    // then judged by its heartbeat's start-up allowance like any thread.
    pool.on('workerDestroy', () =>
      setImmediate(() => {
        this.#adoptThreads(pool);
        this.#refillUnlessPiscinaWill(pool);
      }),
    );
    // A thread that fails with no task running would otherwise be an unhandled 'error' event.
    pool.on('error', () => undefined);
    return pool;
  }

  /** Piscina announces new threads without their Worker objects: find and watch them. */
  #adoptThreads(pool: Piscina<PoolTask, PoolReply>): void {
    if (this.#destroyed.has(pool)) return this.#stopStrays(pool);
    if (pool !== this.#pool) return;
    for (const worker of pool.threads) {
      const threadId = worker.threadId;
      // Once: a thread that died or was terminated stays in piscina's list until it has exited.
      if (this.#adopted.has(worker)) continue;
      this.#adopted.add(worker);
      this.#threads.set(threadId, worker);
      this.adopt(threadId, this.#restarted || ++this.#spawned > this.options.workers);
      if (this.#earlyBeats.delete(threadId)) this.#beat(threadId);
      worker.once('exit', (code) => this.#lost(threadId, `worker exited with code ${code}`));
      worker.once('error', (err) => this.#lost(threadId, `worker threw: ${err.message}`));
    }
  }

  /**
   * Piscina's least-busy balancer, over the threads parley holds alive
   * (piscina still sees a wedged thread as idle until its exit arrives). It
   * notes on the call the thread it places it on. No candidate means the
   * task waits in piscina for a thread.
   */
  #place(task: PiscinaTask, workers: PiscinaWorker[]): PiscinaWorker | null {
    let best: PiscinaWorker | null = null;
    for (const worker of workers) {
      if (worker.terminating || worker.destroyed || !this.isLive(worker.id)) continue;
      if (worker.currentUsage >= this.options.concurrencyPerWorker) continue;
      if (best === null || worker.currentUsage < best.currentUsage) best = worker;
      if (worker.currentUsage === 0) break;
    }
    if (best !== null) (task as unknown as Record<symbol, PendingCall>)[CALL]!.workerId = best.id;
    return best;
  }

  #run(call: PendingCall, work: Work): void {
    if (call.settled) return;
    this.#running++;
    // A burst is handed to piscina a slice at a time: each task is serialized
    // as it is posted, and a thread takes in all the tasks queued on its port
    // in one callback.
    this.#slicer.run(() => this.#start(call, work));
  }

  #start(call: PendingCall, work: Work): void {
    // Ended (cancelled, timed out) while it waited for its slice.
    if (call.settled) return this.#done(call);
    const meta = { callId: call.id, deadlineAt: call.deadlineAt };
    let task: PoolTask;
    let runOptions: Parameters<Piscina['run']>[1];
    if (work.kind === 'stream') {
      task = { kind: 'stream', meta, provider: work.provider, req: work.req, port: work.port, generation: this.generation, [CALL]: call } as PoolTask;
      runOptions = { transferList: [work.port] as never };
    } else {
      task = { ...work, meta, generation: this.generation, [CALL]: call } as PoolTask;
    }
    this.#tasks.set(call.id, null);
    const pool = this.#pool;
    pool.run(task, runOptions).then(
      (reply) => {
        this.#done(call);
        if (reply.ok) call.resolve(reply.value);
        else call.reject(fromWireError(reply.error));
      },
      (err: unknown) => {
        this.#done(call);
        // Waiting in a pool that was replaced, never placed on a thread: the call goes to the new pool.
        if (this.#retired.has(pool) && call.workerId === undefined && !call.settled) return this.deliver(call, work);
        // A task the structured clone refuses never left this thread: the
        // request is at fault, not a worker.
        if ((err as Error)?.name === 'DataCloneError') {
          return call.reject(new ParleyError('INVALID_REQUEST', `the request could not be sent to a provider worker: ${(err as Error).message}`));
        }
        // Otherwise piscina failed the task with its thread (the death has
        // usually failed the call already) or with the pool's destruction.
        const reason = err instanceof Error ? err.message : String(err);
        call.reject(new ParleyError('WORKER_CRASHED', `pool worker died while serving the call: ${reason}`));
      },
    );
  }

  #done(call: PendingCall): void {
    this.#tasks.delete(call.id);
    this.#running--;
    this.#startQueued();
  }

  /** Starts queued calls while there is capacity and a pool that can run them. */
  #startQueued(): void {
    while (this.#queue.length > 0 && this.#running < this.#capacity && this.#restartTimer === undefined) {
      const next = this.#queue.shift()!;
      this.#run(next.call, next.work);
    }
  }

  #onBeat(workerId: number, generation: number): void {
    // A thread beats as soon as it has loaded, which can be before piscina
    // announces it: keep that first beat for when it is adopted.
    if (this.#threads.has(workerId)) this.#beat(workerId);
    else this.#earlyBeats.add(workerId);
    if (generation < this.generation) void this.sendSettings(this.generation);
  }

  #lost(threadId: number, reason: string): void {
    this.#threads.delete(threadId);
    this.died(threadId, reason);
    // A graceful close waits for no answer from a thread that is gone.
    this.#control.threadGone(threadId);
  }

  #beat(threadId: number): void {
    if (!this.beat(threadId)) return;
    this.started(threadId);
    // The thread listens from now on: what it may have missed while starting is sent again.
    this.#resendCancels();
  }

  /** Each heartbeat tick: a cancel that raced its task to a thread is sent again. */
  protected override ping(): void {
    this.#resendCancels();
  }

  #resendCancels(): void {
    for (const [callId, reason] of this.#tasks) if (reason) this.#control.post({ type: 'cancel', callId, reason });
  }
}
