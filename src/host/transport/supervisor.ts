/**
 * Keeps one provider worker alive, as an OTP supervisor would: a dead or
 * wedged worker is replaced after a backoff, and too many crashes inside a
 * window put the runtime in a failed state instead of spinning. Until the
 * replacement is up, callers wait for it (inside their own deadlines).
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { RestartIntensity } from './restart-intensity.ts';
import type { TransportState, CrashRecord } from './worker-transport.ts';
import { WorkerHandle } from './worker-handle.ts';

export interface SupervisorHooks {
  started(workerId: number): void;
  /** The worker died while serving: fail its calls now. */
  crashed(handle: WorkerHandle, reason: string): void;
  restarted(workerId: number): void;
  failed(reason: string): void;
}

export class Supervisor {
  readonly #options: ResolvedOptions;
  readonly #hooks: SupervisorHooks;
  #handle: WorkerHandle | undefined;
  #state: TransportState = 'running';
  #nextWorkerId = 1;
  #restarts = 0;
  #lastCrash: CrashRecord | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #budget: RestartIntensity;
  #waiters: { resolve: (h: WorkerHandle) => void; reject: (e: ParleyError) => void }[] = [];

  constructor(options: ResolvedOptions, hooks: SupervisorHooks) {
    this.#options = options;
    this.#hooks = hooks;
    this.#budget = new RestartIntensity(options.restart);
    this.#handle = this.#spawn();
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
  /** The live worker, if there is one right now. */
  get handle(): WorkerHandle | undefined {
    return this.#handle && !this.#handle.dead ? this.#handle : undefined;
  }

  /** The worker to send a call to: now, after the restart in progress, or a clear error. */
  acquire(): WorkerHandle | Promise<WorkerHandle> {
    const live = this.handle;
    if (live && this.#state === 'running') return live;
    if (this.#state === 'failed') throw this.#budget.failedError();
    if (this.#state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Forget the crash history and start a fresh worker (the way out of 'failed'). */
  restart(): void {
    if (this.#state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    this.#budget.reset();
    if (this.#state === 'failed') {
      this.#state = 'running';
      this.#handle = this.#spawn();
    }
  }

  /** Stops supervising: returns the live worker (if any) for the caller to close. */
  close(): WorkerHandle | undefined {
    this.#state = 'closed';
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#rejectWaiters(new ParleyError('SHUTDOWN', 'the runtime is shutting down'));
    const live = this.handle;
    live?.markClosing();
    return live;
  }

  #spawn(): WorkerHandle {
    return new WorkerHandle({
      workerId: this.#nextWorkerId++,
      providers: this.#options.providers,
      transport: this.#options.transport,
      heartbeatIntervalMs: this.#options.heartbeatIntervalMs,
      heartbeatTimeoutMs: this.#options.heartbeatTimeoutMs,
      resourceLimits: this.#options.resourceLimits,
      execArgv: this.#options.workerExecArgv,
      nice: this.#options.workerNice,
      onOnline: (h) => this.#hooks.started(h.id),
      onDeath: (h, reason) => this.#onDeath(h, reason),
    });
  }

  #onDeath(handle: WorkerHandle, reason: string): void {
    if (handle.closing || this.#state === 'closed') return;
    this.#lastCrash = { workerId: handle.id, reason, at: new Date().toISOString() };
    this.#hooks.crashed(handle, reason);
    if (handle !== this.#handle) return;
    const delay = this.#budget.crashed(reason);
    if (delay === undefined) {
      this.#state = 'failed';
      this.#rejectWaiters(this.#budget.failedError());
      this.#hooks.failed(this.#budget.failure!);
      return;
    }
    this.#state = 'restarting';
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#state !== 'restarting') return;
      this.#handle = this.#spawn();
      this.#state = 'running';
      this.#restarts++;
      this.#hooks.restarted(this.#handle.id);
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.resolve(this.#handle);
    }, delay);
    this.#restartTimer.unref();
  }

  #rejectWaiters(err: ParleyError): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
