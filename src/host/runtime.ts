/**
 * The host side of parley: validates at the door, routes each call to the
 * provider worker with a deadline, holds every pending call in one map, and
 * runs the lifecycle (running -> draining -> closed, with restarts in
 * between). It never does I/O itself and never blocks on the worker.
 */
import { EventEmitter } from 'node:events';
import { ActorTransport } from './transport/actor-transport.ts';
import { installErrorTransfer } from '../wire/error-transfer.ts';
import type { Conversation, ConversationInit } from '../conversation/conversation.ts';
import { OpenConversations } from '../conversation/open-conversations.ts';
import { ParleyError } from '../shared/errors.ts';
import { resolveRuntimeOptions, type ResolvedOptions, type RuntimeOptions } from './options.ts';
import { abortError, PendingCalls, type CallKind } from './pending-calls.ts';
import { PoolTransport } from './transport/pool-transport.ts';
import type { WorkerStats } from '../shared/protocol.ts';
import { validateCallOptions, validateChatRequest } from './request-validation.ts';
import { FallbackRouter, type OpenedStream, type ProviderHealthStats } from './fallback-router.ts';
import { RequestCall, StreamCall } from './calls.ts';
import type { CallOptions, ChatRequest, ChatResult, HealthReport, ModelInfo, StreamEvent } from '../shared/types.ts';
import type { TransportHooks, CrashRecord, Work, WorkerTransport } from './transport/worker-transport.ts';

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
  /** failedCalls: the calls failed with WORKER_CRASHED (known in actor mode; the pool fails them as piscina reports them). */
  'worker-crashed': [{ workerId: number; reason: string; failedCalls?: number }];
  'worker-restarted': [{ workerId: number; restarts: number }];
  failed: [{ reason: string }];
}

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #options: ResolvedOptions;
  readonly #pending: PendingCalls;
  readonly #backend: WorkerTransport;
  readonly #router: FallbackRouter;
  readonly #conversations: OpenConversations;
  #draining = false;
  #closed = false;
  #shutdown: Promise<ShutdownReport> | undefined;
  #completed = 0;
  #failed = 0;

  /** Use createRuntime(). */
  constructor(options: ResolvedOptions) {
    super();
    this.#options = options;
    this.#router = new FallbackRouter(options.defaultProvider, Object.keys(options.providers), options.breaker);
    this.#conversations = new OpenConversations(this, options.timeoutMs);
    this.#pending = new PendingCalls({
      failing: (call, err, fromWorker) => {
        // The worker stops the HTTP request and frees its socket; the caller
        // is not kept waiting for that. A dead worker, or one that reported
        // the failure itself, has nothing to stop.
        const tellWorker = !fromWorker && err.code !== 'WORKER_CRASHED';
        if (tellWorker) this.#backend.cancel(call, err);
        return tellWorker;
      },
      settled: (call, err) => {
        if (err) this.#failed++;
        else this.#completed++;
        // The breaker counts what providers did with chats and streams.
        if (call.kind === 'chat' || call.kind === 'stream') this.#router.record(call.provider, err);
      },
    });
    const hooks: TransportHooks = {
      started: (workerId) => this.emit('worker-started', { workerId }),
      crashed: (workerId, reason, failedCalls) =>
        this.emit('worker-crashed', failedCalls === undefined ? { workerId, reason } : { workerId, reason, failedCalls }),
      restarted: (workerId) => this.emit('worker-restarted', { workerId, restarts: this.#backend.restarts }),
      failed: (reason) => this.emit('failed', { reason }),
    };
    this.#backend =
      options.workers > 1
        ? new PoolTransport(options, hooks)
        : new ActorTransport(options, hooks, (workerId, err) =>
            this.#pending.failAll(
              () => err,
              (call) => call.workerId === workerId,
            ),
          );
  }

  get state(): RuntimeState {
    if (this.#closed) return 'closed';
    if (this.#draining) return 'draining';
    const state = this.#backend.state;
    return state === 'closed' ? 'draining' : state;
  }

  chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResult> {
    let request: ChatRequest;
    let options: CallOptions;
    let route: string[];
    try {
      request = validateChatRequest(req);
      options = validateCallOptions(opts);
      route = this.#router.route(request.provider);
    } catch (err) {
      return Promise.reject(err);
    }
    // One provider (the common case): no fallback loop and no budget to share.
    if (route.length === 1) {
      const provider = route[0]!;
      const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
      return this.#call<ChatResult>('chat', provider, request.model, timeoutMs, options.signal, { kind: 'chat', provider, req: request });
    }
    const budget = this.#budget(options);
    return this.#router.run(route, (provider) => {
      const left = budget();
      return this.#call<ChatResult>('chat', provider, request.model, left.timeoutMs!, left.signal, { kind: 'chat', provider, req: request });
    });
  }

  /** Bad input surfaces where every other failure does: from the iteration, not from this call. */
  stream(req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamEvent> {
    try {
      const request = validateChatRequest(req);
      const options = validateCallOptions(opts);
      const route = this.#router.route(request.provider);
      const budget = this.#budget(options);
      return this.#router.stream(route, (provider) => this.#openStream(provider, request, budget()));
    } catch (err) {
      return failedStream(err);
    }
  }

  models(provider?: string, opts?: CallOptions): Promise<ModelInfo[]> {
    let name: string;
    let options: CallOptions;
    try {
      name = this.#router.single(provider);
      options = validateCallOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#call<ModelInfo[]>('models', name, undefined, options.timeoutMs ?? this.#options.timeoutMs, options.signal, { kind: 'models', provider: name });
  }

  /** Probes one provider, or all of them; a provider being down is a report, not an error. */
  health(provider: string, opts?: CallOptions): Promise<HealthReport>;
  health(provider?: undefined, opts?: CallOptions): Promise<HealthReport[]>;
  async health(provider?: string, opts?: CallOptions): Promise<HealthReport | HealthReport[]> {
    const options = validateCallOptions(opts);
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    const names = provider === undefined ? Object.keys(this.#options.providers) : [this.#router.single(provider)];
    const reports = await Promise.all(
      names.map((name) =>
        this.#call<HealthReport>('health', name, undefined, timeoutMs, options.signal, { kind: 'health', provider: name }).catch(
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

  /** A conversation on this runtime; with a store, its history is loaded first. shutdown() closes it. */
  conversation(init: ConversationInit): Promise<Conversation> {
    return this.#conversations.open(init);
  }

  async stats(): Promise<RuntimeStats> {
    const workers: WorkerStats[] = this.#closed ? [] : await this.#backend.stats();
    const out: RuntimeStats = {
      state: this.state,
      inFlight: this.#pending.size,
      completed: this.#completed,
      failed: this.#failed,
      restarts: this.#backend.restarts,
      workers,
      providers: this.#router.stats(),
    };
    const lastCrash = this.#backend.lastCrash;
    if (lastCrash) out.lastCrash = lastCrash;
    return out;
  }

  /** Leaves the failed state: forgets the crash history and starts a fresh worker. */
  restart(): void {
    if (this.#draining || this.#closed) throw new ParleyError('SHUTDOWN', 'the runtime is shut down');
    this.#backend.restart();
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
    this.#draining = true;
    // Alongside the drain: queued turns could not start now, so they fail at once; a running turn
    // is a call in flight and gets the same grace. Awaited before the workers go, once every call
    // has settled, so that each transcript is flushed, closed and unlocked when shutdown() resolves.
    const conversationsClosed = this.#conversations.closeAll(graceMs);
    const inFlight = this.#pending.size;
    await this.#pending.whenEmpty(graceMs);
    const aborted = this.#pending.failAll(() => new ParleyError('SHUTDOWN', `the runtime shut down before the call finished (grace ${graceMs} ms)`));
    await conversationsClosed;
    const { forced } = await this.#backend.close(Math.max(100, graceMs - (performance.now() - started)));
    this.#closed = true;
    return { drained: inFlight - aborted, aborted, forced, durationMs: Math.round(performance.now() - started) };
  }

  /**
   * One deadline for the whole call, fallbacks included: each provider tried
   * gets what is left of it, not a fresh timeoutMs. The clock starts with the
   * first attempt (a stream starts when it is first read).
   */
  #budget(options: CallOptions): () => CallOptions {
    const timeoutMs = options.timeoutMs ?? this.#options.timeoutMs;
    let deadlineAt: number | undefined;
    return () => {
      deadlineAt ??= Date.now() + timeoutMs;
      const left = deadlineAt - Date.now();
      if (left <= 0) throw new ParleyError('TIMEOUT', `the call's ${timeoutMs} ms deadline passed before the next provider could be tried`);
      return { ...options, timeoutMs: left };
    };
  }

  #admit(): void {
    if (this.#draining || this.#closed) throw new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new calls are taken');
  }

  /** Runs one request/response call on a worker with its deadline and signal. */
  #call<T>(kind: CallKind, provider: string, model: string | undefined, timeoutMs: number, signal: AbortSignal | undefined, work: Work): Promise<T> {
    try {
      this.#admit();
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const call = new RequestCall<T>(this.#pending, kind, provider, model, timeoutMs, signal);
    this.#backend.dispatch(call, work);
    return call.promise;
  }

  #openStream(provider: string, request: ChatRequest, opts: CallOptions): OpenedStream {
    this.#admit();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const timeoutMs = opts.timeoutMs ?? this.#options.timeoutMs;
    const call = new StreamCall(this.#pending, provider, request.model, timeoutMs, opts.signal, this.#options.transport.streamCredits);
    this.#backend.dispatch(call, { kind: 'stream', provider, req: request, port: call.reader.remotePort });
    return {
      next: () => call.reader.next(),
      leave: () => {
        call.reader.cancel(new ParleyError('ABORTED', 'the caller left the stream early'));
        call.succeed();
      },
    };
  }
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const resolved = resolveRuntimeOptions(options);
  installErrorTransfer();
  return new Runtime(resolved);
}

function failedStream(err: unknown): AsyncIterable<StreamEvent> {
  return {
    [Symbol.asyncIterator]: () => {
      let thrown = false;
      return {
        next: () => {
          if (thrown) return Promise.resolve({ value: undefined, done: true });
          thrown = true;
          return Promise.reject(err);
        },
      };
    },
  };
}
