/**
 * The host side of parley: validates at the door, routes each call to the
 * provider worker with a deadline, holds every pending call in one map, and
 * runs the lifecycle (running -> draining -> closed, with restarts in
 * between). It never does I/O itself and never blocks on the worker.
 */
import { EventEmitter } from 'node:events';
import { transfer } from 'comlink/dist/esm/comlink.mjs';
import { installErrorTransfer } from './comlink-errors.ts';
import { openConversation, type Conversation, type ConversationInit } from './conversation.ts';
import { ParleyError } from './errors.ts';
import { toWireError } from './error-wire.ts';
import { resolveOptions, type ResolvedOptions, type RuntimeOptions } from './options.ts';
import { abortError, PendingCalls, type PendingCall } from './pending-calls.ts';
import type { CallMeta, WorkerStats } from './protocol.ts';
import { validateCallOptions, validateChatRequest } from './provider/request-validation.ts';
import { FallbackRouter, type OpenedStream, type ProviderHealthStats } from './fallback-router.ts';
import { StreamReader } from './stream-reader.ts';
import { Supervisor, type CrashRecord, type SupervisorState } from './supervisor.ts';
import type { CallOptions, ChatRequest, ChatResult, HealthReport, ModelInfo, StreamEvent } from './types.ts';
import type { WorkerHandle } from './worker-handle.ts';

export type RuntimeState = 'running' | 'restarting' | 'failed' | 'draining' | 'closed';

export interface ShutdownReport {
  /** Calls in flight at shutdown that finished within the grace time. */
  drained: number;
  /** Calls still in flight when the grace time ran out, failed with SHUTDOWN. */
  aborted: number;
  /** True when a worker did not exit by itself and had to be terminated. */
  forced: boolean;
  durationMs: number;
}

export interface RuntimeStats {
  state: RuntimeState;
  inFlight: number;
  completed: number;
  failed: number;
  restarts: number;
  lastCrash?: CrashRecord;
  workers: WorkerStats[];
  providers: ProviderHealthStats[];
}

export interface RuntimeEvents {
  'worker-started': [{ workerId: number }];
  'worker-crashed': [{ workerId: number; reason: string; failedCalls: number }];
  'worker-restarted': [{ workerId: number; restarts: number }];
  failed: [{ reason: string }];
}

/** stats() asks the worker for socket figures but never waits long for them. */
const STATS_DEADLINE_MS = 1_000;

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #options: ResolvedOptions;
  readonly #pending = new PendingCalls();
  readonly #supervisor: Supervisor;
  readonly #router: FallbackRouter;
  #draining = false;
  #closed = false;
  #shutdown: Promise<ShutdownReport> | undefined;
  #completed = 0;
  #failed = 0;

  /** Use createRuntime(). */
  constructor(options: ResolvedOptions) {
    super();
    this.#options = options;
    this.#router = new FallbackRouter(options.defaultProvider, Object.keys(options.providers));
    this.#supervisor = new Supervisor(options, {
      started: (workerId) => this.emit('worker-started', { workerId }),
      crashed: (handle, reason) => {
        const err = new ParleyError('WORKER_CRASHED', `provider worker ${handle.id} died: ${reason}`);
        const failedCalls = this.#pending.failAll(
          () => err,
          (call) => call.workerId === handle.id,
        );
        this.emit('worker-crashed', { workerId: handle.id, reason, failedCalls });
      },
      restarted: (workerId) => this.emit('worker-restarted', { workerId, restarts: this.#supervisor.restarts }),
      failed: (reason) => this.emit('failed', { reason }),
    });
  }

  get state(): RuntimeState {
    if (this.#closed) return 'closed';
    if (this.#draining) return 'draining';
    return this.#supervisor.state as Exclude<SupervisorState, 'closed'>;
  }

  chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResult> {
    let request: ChatRequest;
    let options: CallOptions;
    try {
      request = validateChatRequest(req);
      options = validateCallOptions(opts ?? {});
    } catch (err) {
      return Promise.reject(err);
    }
    const route = this.#router.route(request.provider);
    return this.#router.run(route, (provider) =>
      this.#call(`chat with "${provider}" (${request.model})`, options, (handle, meta) =>
        handle.api.chat(meta, provider, request),
      ),
    );
  }

  stream(req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamEvent> {
    const request = validateChatRequest(req);
    const options = validateCallOptions(opts ?? {});
    const route = this.#router.route(request.provider);
    return this.#router.stream(route, (provider) => this.#openStream(provider, request, options));
  }

  models(provider?: string, opts?: CallOptions): Promise<ModelInfo[]> {
    let name: string;
    let options: CallOptions;
    try {
      name = this.#router.single(provider);
      options = validateCallOptions(opts ?? {});
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#call(`models of "${name}"`, options, (handle, meta) => handle.api.models(meta, name));
  }

  /** Probes one provider, or all of them; a provider being down is a report, not an error. */
  health(provider: string, opts?: CallOptions): Promise<HealthReport>;
  health(provider?: undefined, opts?: CallOptions): Promise<HealthReport[]>;
  async health(provider?: string, opts?: CallOptions): Promise<HealthReport | HealthReport[]> {
    const options = validateCallOptions(opts ?? {});
    const names = provider === undefined ? Object.keys(this.#options.providers) : [this.#router.single(provider)];
    const reports = await Promise.all(
      names.map((name) =>
        this.#call(`health of "${name}"`, options, (handle, meta) => handle.api.health(meta, name)).catch(
          (err: ParleyError): HealthReport => ({
            provider: name,
            ok: false,
            latencyMs: 0,
            error: { code: err.code, message: err.message },
          }),
        ),
      ),
    );
    for (const report of reports) this.#router.observeHealth(report);
    return provider === undefined ? reports : reports[0]!;
  }

  /** A conversation on this runtime; with a store, its history is loaded first. */
  conversation(init: ConversationInit): Promise<Conversation> {
    return openConversation(this, init);
  }

  async stats(): Promise<RuntimeStats> {
    const handle = this.#supervisor.handle;
    const workers: WorkerStats[] = [];
    if (handle && !this.#closed) {
      const figures = await withTimeout(handle.api.stats(), STATS_DEADLINE_MS);
      if (figures) workers.push(figures);
    }
    const out: RuntimeStats = {
      state: this.state,
      inFlight: this.#pending.size,
      completed: this.#completed,
      failed: this.#failed,
      restarts: this.#supervisor.restarts,
      workers,
      providers: this.#router.stats(),
    };
    const lastCrash = this.#supervisor.lastCrash;
    if (lastCrash) out.lastCrash = lastCrash;
    return out;
  }

  /** Leaves the failed state: forgets the crash history and starts a fresh worker. */
  restart(): void {
    if (this.#draining || this.#closed) throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    this.#supervisor.restart();
  }

  /**
   * The explicit graceful message: refuse new calls, let the ones in flight
   * finish within graceMs, abort the rest, close every Agent and let the
   * worker exit by itself (terminate only as a fallback). Idempotent.
   */
  shutdown(opts: { graceMs?: number } = {}): Promise<ShutdownReport> {
    this.#shutdown ??= this.#doShutdown(opts.graceMs ?? 5_000);
    return this.#shutdown;
  }

  async #doShutdown(graceMs: number): Promise<ShutdownReport> {
    const started = performance.now();
    const remaining = () => Math.max(100, graceMs - (performance.now() - started));
    this.#draining = true;
    const inFlight = this.#pending.size;
    await this.#pending.whenEmpty(graceMs);
    const aborted = this.#pending.failAll(() => new ParleyError('SHUTDOWN', `the runtime shut down before the call finished (grace ${graceMs} ms)`));
    const handle = this.#supervisor.close();
    let forced = false;
    if (handle) {
      await withTimeout(handle.api.close(), remaining());
      const exited = await withTimeout(handle.exited(), remaining());
      if (exited === undefined) {
        forced = true;
        await handle.terminate();
      }
    }
    this.#closed = true;
    return { drained: inFlight - aborted, aborted, forced, durationMs: Math.round(performance.now() - started) };
  }

  #admit(): void {
    if (this.#draining || this.#closed) throw new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new calls are taken');
  }

  /** Runs one request/response call on the worker with its deadline and signal. */
  #call<T>(what: string, opts: CallOptions, send: (handle: WorkerHandle, meta: CallMeta) => Promise<T>): Promise<T> {
    try {
      this.#admit();
    } catch (err) {
      return Promise.reject(err);
    }
    if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
    return new Promise<T>((resolve, reject) => {
      const { call, succeed } = this.#open(what, opts, (err) => (err ? reject(err) : undefined));
      const dispatch = (handle: WorkerHandle) => {
        if (call.settled) return;
        call.workerId = handle.id;
        send(handle, { callId: call.id, deadlineAt: call.deadlineAt }).then(
          (value) => {
            if (succeed()) resolve(value);
          },
          (err: unknown) => call.fail(asParleyError(err)),
        );
      };
      this.#withWorker(call, dispatch);
    });
  }

  #openStream(provider: string, request: ChatRequest, opts: CallOptions): OpenedStream {
    this.#admit();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    let reader: StreamReader | undefined;
    const { call, succeed } = this.#open(`stream from "${provider}" (${request.model})`, opts, (err, tellWorker) => {
      if (err) reader?.fail(err, tellWorker);
    });
    reader = new StreamReader(this.#options.transport.streamCredits, (err) => (err ? call.fail(err) : succeed()));
    const started = reader;
    this.#withWorker(call, (handle) => {
      if (call.settled) return;
      call.workerId = handle.id;
      const port = started.remotePort;
      handle.api
        .stream({ callId: call.id, deadlineAt: call.deadlineAt }, provider, request, transfer(port, [port] as unknown as Parameters<typeof transfer>[1]))
        .catch((err: unknown) => call.fail(asParleyError(err)));
    });
    return {
      next: () => started.next(),
      leave: () => {
        started.cancel(new ParleyError('ABORTED', 'the caller left the stream early'));
        succeed();
      },
    };
  }

  #open(what: string, opts: CallOptions, onFailed: (err: ParleyError | undefined, tellWorker: boolean) => void) {
    return this.#pending.open({
      timeoutMs: opts.timeoutMs ?? this.#options.timeoutMs,
      signal: opts.signal,
      describe: () => `${what}: ${this.#pending.size} calls in flight`,
      onFail: (call: PendingCall, err: ParleyError) => {
        const handle = this.#supervisor.handle;
        const live = handle !== undefined && handle.id === call.workerId && err.code !== 'WORKER_CRASHED';
        // The worker stops the HTTP request and frees its socket; the caller
        // is not kept waiting for that.
        if (live && handle) void handle.api.cancel(call.id, toWireError(err)).catch(() => undefined);
        onFailed(err, live);
      },
      onSettle: (_call: PendingCall, err: ParleyError | undefined) => {
        if (err) this.#failed++;
        else this.#completed++;
      },
    });
  }

  #withWorker(call: PendingCall, dispatch: (handle: WorkerHandle) => void): void {
    let acquired: WorkerHandle | Promise<WorkerHandle>;
    try {
      acquired = this.#supervisor.acquire();
    } catch (err) {
      call.fail(asParleyError(err));
      return;
    }
    if (acquired instanceof Promise) acquired.then(dispatch, (err: unknown) => call.fail(asParleyError(err)));
    else dispatch(acquired);
  }
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const resolved = resolveOptions(options);
  installErrorTransfer();
  return new Runtime(resolved);
}

function asParleyError(err: unknown): ParleyError {
  if (err instanceof ParleyError) return err;
  return new ParleyError('BAD_RESPONSE', `unexpected error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
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
