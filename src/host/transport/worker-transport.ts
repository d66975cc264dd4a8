/**
 * The lifecycle of the provider workers, written once for both modes, as
 * undici's DispatcherBase writes close/destroy once for every dispatcher:
 * the state, the calls in flight, heartbeat judging, how a death fails the
 * calls that ran on the dead thread, restart intensity, the stats deadline,
 * and the lifecycle verbs close (graceful) and destroy (immediate).
 *
 * A mode (ActorTransport: one Comlink actor; PoolTransport: a piscina pool)
 * only says how it starts threads and hands them work. It reports what its
 * threads do through adopt / started / beat / died, and the core does the rest.
 */
import type { EventEmitter } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { ParleyError } from '../../shared/errors.ts';
import type { WorkerStats } from '../../shared/protocol.ts';
import type { ChatRequest, ProviderConfig } from '../../shared/types.ts';
import type { ResolvedOptions } from '../options.ts';
import { PendingCalls, type CallCanceller, type OutcomeRecorder, type PendingCall } from '../pending-calls.ts';
import { Liveness } from './liveness.ts';
import { RestartIntensity } from './restart-intensity.ts';

export type Work =
  | { kind: 'chat'; provider: string; req: ChatRequest }
  | { kind: 'stream'; provider: string; req: ChatRequest; port: MessagePort }
  | { kind: 'models'; provider: string }
  | { kind: 'health'; provider: string };

export type RuntimeState = 'running' | 'restarting' | 'failed' | 'draining' | 'closed';

export interface CrashRecord {
  workerId: number;
  reason: string;
  at: string;
}

export interface WorkerEvents {
  /** A worker thread is up (actor: online; pool: its first heartbeat). */
  'worker-started': [{ workerId: number }];
  /** A worker died; `failedCalls` calls that ran on it failed at once with WORKER_CRASHED. */
  'worker-crashed': [{ workerId: number; reason: string; failedCalls: number }];
  /** A replacement for a dead worker was started; `restarts` counts them since creation. */
  'worker-restarted': [{ workerId: number; restarts: number }];
  /** Too many crashes inside the restart window: the runtime stops restarting until restart(). */
  failed: [{ reason: string }];
}

export interface ShutdownReport {
  /** Calls in flight at shutdown that finished within the grace time. */
  drained: number;
  /** Calls still in flight when the grace time ran out, failed with SHUTDOWN. */
  aborted: number;
  /**
   * True when a worker did not close cleanly and had to be terminated: it did
   * not answer the graceful close in time, or answered with something still
   * open and then did not exit by itself.
   */
  forced: boolean;
  durationMs: number;
}

/** A mode's transport class: ActorTransport (workers: 1) or PoolTransport; createRuntime loads the one its options ask for. */
export type TransportClass = new (...args: ConstructorParameters<typeof WorkerTransport>) => WorkerTransport;

/** What a mode tells the core about its threads. */
export interface ThreadReports {
  /** The thread is up (actor: online; pool: its first heartbeat). */
  started(workerId: number): void;
  /** A heartbeat arrived; true when it is the thread's first. */
  beat(workerId: number): boolean;
  /** The thread is gone (exit or error); a second report of the same death is ignored. */
  died(workerId: number, reason: string): void;
}

/** stats() asks the workers for socket figures but never waits long for them. */
const STATS_DEADLINE_MS = 1_000;
/**
 * The most: by then every call has ended, so closing is only aborting what
 * is left and closing Agents; a worker slower than this is wedged (and with
 * graceMs: Infinity there would otherwise be no bound at all).
 */
const MAX_CLOSE_MS = 10_000;

export abstract class WorkerTransport implements CallCanceller, ThreadReports {
  /** Every call in flight, whichever worker runs it. */
  readonly calls: PendingCalls;
  protected readonly options: ResolvedOptions;
  readonly #events: EventEmitter<WorkerEvents>;
  readonly #intensity: RestartIntensity;
  /** The workers alive and judged by their heartbeat, by worker id. */
  readonly #live = new Map<number, Liveness>();
  #state: 'running' | 'restarting' | 'failed' = 'running';
  /** False once close() has drained or destroy() began: a death from then on is expected. */
  #supervising = true;
  #closing: Promise<ShutdownReport> | undefined;
  #destroying: Promise<void> | undefined;
  #closed = false;
  #restarts = 0;
  #generation = 0;
  #lastCrash: CrashRecord | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  #lastTick = Date.now();
  /** How many threads have answered at least once (loaded parley's code); `ready` waits for #expected of them. */
  #answered = 0;
  /** options.workers, unless a pool is left with fewer threads while it starts (expectThreads). */
  #expected: number;
  readonly #readiness = deferred();

  constructor(options: ResolvedOptions, events: EventEmitter<WorkerEvents>, recorder: OutcomeRecorder) {
    this.options = options;
    this.#events = events;
    this.#intensity = new RestartIntensity(options.restart);
    this.#expected = options.workers;
    this.calls = new PendingCalls(this, recorder, options.redactor);
    this.#heartbeat = setInterval(() => this.#judge(), options.heartbeatIntervalMs).unref();
  }

  get state(): RuntimeState {
    if (this.#closed) return 'closed';
    if (this.#closing || this.#destroying) return 'draining';
    return this.#state;
  }
  get restarts(): number {
    return this.#restarts;
  }
  get lastCrash(): CrashRecord | undefined {
    return this.#lastCrash;
  }

  /**
   * Hands the call's work to a worker, which answers through the call itself:
   * `call.resolve(result)` (a stream: once the worker took it; its outcome
   * comes on its own port) or `call.reject(err)`.
   */
  dispatch(call: PendingCall, work: Work): void {
    if (this.#closing || this.#destroying) return call.reject(new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new calls are taken'));
    if (this.#state === 'failed') return call.reject(this.#intensity.failedError());
    this.deliver(call, work);
  }

  /** The settings generation: 0 at creation, one more with each configure(). What a new thread starts with. */
  protected get generation(): number {
    return this.#generation;
  }

  /**
   * Live settings: `providers` and `defaultProvider` (checked at the door)
   * replace the current ones for every call made from now on, on every
   * worker alive and every worker started later (replacements included),
   * without a restart. Calls already handed to a worker finish on the
   * settings they started with. Resolves once the live workers were told.
   */
  configure(providers: Record<string, ProviderConfig>, defaultProvider: string): Promise<void> {
    if (this.#closing || this.#destroying) return Promise.reject(new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; its settings are final'));
    this.options.providers = providers;
    this.options.defaultProvider = defaultProvider;
    return this.sendSettings(++this.#generation);
  }

  /** Socket and heap figures of every worker that answers within the stats deadline. */
  stats(): Promise<WorkerStats[]> {
    if (!this.#supervising) return Promise.resolve([]);
    return this.collectStats(STATS_DEADLINE_MS);
  }

  /** Leaves the failed state: forgets the crash history and starts fresh workers. */
  restart(): void {
    if (this.#closing || this.#destroying) throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    this.#intensity.reset();
    if (this.#state !== 'failed') return;
    this.#state = 'running';
    this.start();
  }

  /**
   * Graceful: refuse new calls, let the calls in flight finish within
   * `graceMs`, abandon the rest with SHUTDOWN, then send every worker the
   * graceful close (abort what is left, close every Agent, exit by itself).
   * A worker that does not exit in time is terminated, and `forced` says so.
   * One that reports nothing left open is not waited for: its thread's
   * teardown (V8's, up to ~200 ms) goes on unref'd, in the background.
   * Idempotent: every caller gets the same report.
   */
  close(graceMs: number): Promise<ShutdownReport> {
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  /**
   * Immediate: every call in flight fails with SHUTDOWN, every thread is
   * terminated; resolves once they are gone. Idempotent.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#destroy();
    return this.#destroying;
  }

  /** CallCanceller: the worker running `call` is told to stop it. */
  abstract cancel(call: PendingCall, reason: ParleyError): void;

  // What a mode reports about its threads (ThreadReports).

  /** A new thread exists and is judged by its heartbeat from now on; `replacement` when it replaces a dead one. */
  protected adopt(workerId: number, replacement: boolean): void {
    this.#live.set(workerId, new Liveness(Date.now()));
    if (this.#state === 'restarting') this.#state = 'running';
    if (replacement) this.#events.emit('worker-restarted', { workerId, restarts: this.#restarts });
  }

  started(workerId: number): void {
    this.#events.emit('worker-started', { workerId });
  }

  /** A heartbeat from a worker. True when it is that worker's first. */
  beat(workerId: number): boolean {
    const first = this.#live.get(workerId)?.beat(Date.now()) ?? false;
    if (first && ++this.#answered >= this.#expected) this.#readiness.resolve();
    return first;
  }

  /**
   * The mode will run only `count` threads (a pool whose lost threads
   * piscina does not replace): `ready` waits for that many answers.
   */
  protected expectThreads(count: number): void {
    this.#expected = Math.min(this.#expected, count);
    if (this.#answered >= this.#expected) this.#readiness.resolve();
  }

  /**
   * Resolves once options.workers threads have each loaded and answered
   * (createRuntime waits for it, so a first call's deadline is not spent on
   * start-up). Rejects with the restart intensity's error when the threads
   * keep dying before that (a worker entry that cannot load), or with
   * SHUTDOWN when the transport is closed first.
   */
  ready(): Promise<void> {
    return this.#readiness.promise;
  }

  /**
   * True while dead workers are replaced: from creation until the runtime
   * fails, or a shutdown has drained (or given up on) its calls. During a
   * shutdown's grace it is still true, so calls that wait for a replacement
   * are served by it within the grace.
   */
  protected get supervising(): boolean {
    return this.#supervising && this.#state !== 'failed';
  }

  protected isLive(workerId: number): boolean {
    return this.#live.has(workerId);
  }

  /**
   * A worker is gone (exit, error, or wedged). Reported once per worker; a
   * later report of the same death is ignored. The calls that ran on it fail
   * at once with WORKER_CRASHED, and it is replaced unless the restart
   * intensity is spent.
   */
  died(workerId: number, cause: string): void {
    if (!this.#live.delete(workerId) || !this.#supervising) return;
    // A thread's last words can be anything it printed: they reach events, stats and errors only redacted.
    const reason = this.options.redactor.text(cause);
    this.#lastCrash = { workerId, reason, at: new Date().toISOString() };
    const failedCalls = this.calls.rejectOn(workerId, new ParleyError('WORKER_CRASHED', `provider worker ${workerId} died: ${reason}`));
    this.#events.emit('worker-crashed', { workerId, reason, failedCalls });
    const backoffMs = this.#intensity.crashed(reason);
    if (backoffMs === undefined) return this.#fail();
    this.#restarts++;
    if (this.#live.size === 0) this.#state = 'restarting';
    this.replace(backoffMs);
  }

  // How a mode starts threads and hands them work.

  /** Start the mode's workers (at creation, and by restart() after 'failed'). */
  protected abstract start(): void;
  /** A worker died and will be replaced: after `backoffMs`, if the mode controls when. */
  protected abstract replace(backoffMs: number): void;
  protected abstract deliver(call: PendingCall, work: Work): void;
  /** The transport takes no more work: what waits for a worker fails with `err`. */
  protected abstract refuseWaiting(err: ParleyError): void;
  /** A live worker is wedged: stop its thread (its exit is then expected). */
  protected abstract terminate(workerId: number): void;
  /** Each worker's figures, within `deadlineMs`. */
  protected abstract collectStats(deadlineMs: number): Promise<WorkerStats[]>;
  /** Tells the live workers the settings of `generation` (this.options.providers); a thread started later gets them at start. */
  protected abstract sendSettings(generation: number): Promise<void>;
  /** Sends every worker the graceful close; true when all of them were done within `ms`. */
  protected abstract closeWorkers(ms: number): Promise<boolean>;
  /** Terminates every thread at once and resolves once they are gone. */
  protected abstract destroyWorkers(): Promise<void>;

  /** Sends pings, for a mode whose workers answer them instead of beating on their own. */
  protected ping(): void {}

  #judge(): void {
    const now = Date.now();
    // If this thread itself was blocked, the beats are queued behind us:
    // judge the workers only on time this thread was awake to hear them.
    const stalled = now - this.#lastTick > this.options.heartbeatIntervalMs * 2;
    this.#lastTick = now;
    if (!this.supervising) return;
    for (const [workerId, liveness] of this.#live) {
      if (stalled) liveness.forgive(now);
      const silence = liveness.wedgedFor(now, this.options.heartbeatTimeoutMs);
      if (silence === undefined) continue;
      this.died(workerId, `worker missed heartbeats for ${silence} ms (event loop blocked)`);
      this.terminate(workerId);
    }
    this.ping();
  }

  #fail(): void {
    this.#state = 'failed';
    const err = this.#intensity.failedError();
    this.#readiness.reject(err);
    this.refuseWaiting(err);
    this.calls.rejectAll(err);
    this.#live.clear();
    void this.destroyWorkers();
    this.#events.emit('failed', { reason: this.#intensity.failure! });
  }

  #stopSupervising(err: ParleyError): void {
    this.#readiness.reject(err);
    this.#supervising = false;
    clearInterval(this.#heartbeat);
    this.refuseWaiting(err);
  }

  async #close(graceMs: number): Promise<ShutdownReport> {
    const started = performance.now();
    const inFlight = this.calls.size;
    await this.calls.whenEmpty(graceMs);
    const aborted = this.calls.abandonAll(new ParleyError('SHUTDOWN', `the runtime shut down before the call finished (grace ${graceMs} ms)`));
    this.#stopSupervising(new ParleyError('SHUTDOWN', 'the runtime is shutting down'));
    // The workers get at least heartbeatTimeoutMs to answer the graceful
    // close, however little grace is left: the silence the heartbeat allows
    // a live worker before it is judged wedged. One slower than that on a
    // starved machine is not wedged, and terminating it would report a forced
    // shutdown that was not one. Idle workers answer in a few ms.
    const exited = await this.closeWorkers(Math.min(MAX_CLOSE_MS, Math.max(this.options.heartbeatTimeoutMs, graceMs - (performance.now() - started))));
    if (!exited) await this.destroy();
    this.#closed = true;
    return { drained: inFlight - aborted, aborted, forced: !exited, durationMs: Math.round(performance.now() - started) };
  }

  async #destroy(): Promise<void> {
    const err = new ParleyError('SHUTDOWN', 'the runtime was destroyed');
    this.#stopSupervising(err);
    this.calls.rejectAll(err);
    await this.destroyWorkers();
    this.#closed = true;
  }
}

/** `promise`'s value, or undefined when it fails or `ms` passes first. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
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

/** Promise.withResolvers, which Node 20 lacks. */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Settled with nobody waiting (a transport that fails long after it was ready) is not an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}
