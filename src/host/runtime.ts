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
import { resolveProviderSettings, resolveRuntimeOptions, SHUTDOWN_GRACE_MS, type ProviderSettings, type ResolvedOptions, type RuntimeOptions } from './options.ts';
import { abortError, type CallKind } from './pending-calls.ts';
import { PoolTransport } from './transport/pool-transport.ts';
import { requestFor, validateCallOptions, validateChatRequest } from './request-validation.ts';
import { FallbackRouter, type OpenedStream, type ProviderHealthStats } from './fallback-router.ts';
import { RequestCall, StreamCall } from './calls.ts';
import type { CallOptions, ChatInput, ChatRequest, ChatResult, HealthReport, ModelInfo, StreamEvent } from '../shared/types.ts';
import type { WorkerStats } from '../shared/protocol.ts';
import type { CrashRecord, RuntimeEvents, RuntimeState, ShutdownReport, Work, WorkerTransport } from './transport/worker-transport.ts';

export type { RuntimeEvents, RuntimeState, ShutdownReport };

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

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #options: ResolvedOptions;
  readonly #transport: WorkerTransport;
  readonly #router: FallbackRouter;
  readonly #conversations: OpenConversations;
  #shutdown: Promise<ShutdownReport> | undefined;

  /** Use createRuntime(). */
  constructor(options: ResolvedOptions) {
    super();
    this.#options = options;
    this.#router = new FallbackRouter(options.defaultProvider, Object.keys(options.providers), options.breaker);
    this.#transport = options.workers > 1 ? new PoolTransport(options, this, this.#router) : new ActorTransport(options, this, this.#router);
    this.#conversations = new OpenConversations(this, options.timeoutMs);
  }

  get state(): RuntimeState {
    return this.#transport.state;
  }

  chat(req: ChatInput, opts?: CallOptions): Promise<ChatResult> {
    let requests: Map<string, ChatRequest>;
    let options: CallOptions;
    let route: string[];
    try {
      [requests, route] = this.#admitRequest(req);
      options = validateCallOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    // One provider (the common case): no fallback loop and no deadline to share.
    if (route.length === 1) {
      const provider = route[0]!;
      const request = requests.get(provider)!;
      return this.#call<ChatResult>('chat', provider, request.model, this.#timeoutOf(options), options.signal, { kind: 'chat', provider, req: request });
    }
    const deadline = this.#sharedDeadline(options);
    return this.#router.run(route, (provider) => {
      const left = deadline();
      const request = requests.get(provider)!;
      return this.#call<ChatResult>('chat', provider, request.model, left.timeoutMs!, left.signal, { kind: 'chat', provider, req: request });
    });
  }

  /** Bad input surfaces where every other failure does: from the iteration, not from this call. */
  stream(req: ChatInput, opts?: CallOptions): AsyncIterable<StreamEvent> {
    try {
      const [requests, route] = this.#admitRequest(req);
      const options = validateCallOptions(opts);
      const deadline = this.#sharedDeadline(options);
      return this.#router.stream(route, (provider) => this.#openStream(provider, requests.get(provider)!, deadline()));
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
      return Promise.reject(err instanceof ParleyError ? this.#options.redactor.error(err) : err);
    }
    return this.#call<ModelInfo[]>('models', name, undefined, this.#timeoutOf(options), options.signal, { kind: 'models', provider: name });
  }

  /** Probes one provider, or all of them; a provider being down is a report, not an error. */
  health(provider: string, opts?: CallOptions): Promise<HealthReport>;
  health(provider?: undefined, opts?: CallOptions): Promise<HealthReport[]>;
  async health(provider?: string, opts?: CallOptions): Promise<HealthReport | HealthReport[]> {
    const options = validateCallOptions(opts);
    const timeoutMs = this.#timeoutOf(options);
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
    const transport = this.#transport;
    const workers = await transport.stats();
    const out: RuntimeStats = {
      state: this.state,
      inFlight: transport.calls.size,
      completed: transport.calls.completed,
      failed: transport.calls.failed,
      restarts: transport.restarts,
      workers,
      providers: this.#router.stats(),
    };
    const lastCrash = transport.lastCrash;
    if (lastCrash) out.lastCrash = lastCrash;
    return this.#options.redactor.value(out);
  }

  /**
   * Live settings, e.g. from a host's settings panel: replaces the providers
   * (keys, URLs, headers, proxies, new and removed providers) and the
   * default provider, without a worker restart. Checked as createRuntime
   * checks its options (the runtime's `proxy` applies to providers that
   * name none). Calls in flight finish on the settings they started with;
   * every call made once this has resolved uses the new ones, in both modes,
   * and so does every worker started later (replacements included). A
   * provider's sockets are closed once its origin, proxy or trust changed
   * (or it was removed) and its last call ended; a changed key alone keeps
   * them. Conversations keep their provider name: one that was removed
   * fails its next turn with INVALID_REQUEST.
   * @throws ParleyError CONFIG (bad settings: nothing changes), SHUTDOWN (shutting down)
   */
  async configure(settings: ProviderSettings): Promise<void> {
    const state = this.#transport.state;
    if (state === 'draining' || state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; its settings are final');
    const { providers, defaultProvider } = resolveProviderSettings(settings, this.#options.proxy);
    // Taught before any call can carry the new secrets; the old ones stay known.
    this.#options.redactor.learn(providers);
    this.#router.configure(defaultProvider, Object.keys(providers));
    await this.#transport.configure(providers, defaultProvider);
  }

  /** Leaves the failed state: forgets the crash history and starts a fresh worker. */
  restart(): void {
    this.#transport.restart();
  }

  /**
   * The explicit graceful message: refuse new calls, let the ones in flight
   * finish within graceMs (default 5 s), abort the rest, close every Agent
   * and let the worker exit by itself (terminate only as a fallback).
   * Idempotent: a second call returns the same report.
   */
  shutdown(opts: { graceMs?: number } = {}): Promise<ShutdownReport> {
    this.#shutdown ??= this.#shutdownOnce(opts.graceMs ?? SHUTDOWN_GRACE_MS);
    return this.#shutdown;
  }

  async #shutdownOnce(graceMs: number): Promise<ShutdownReport> {
    // The transport refuses new calls before this line returns; the
    // conversations then fail their queued turns at once, while a running
    // turn is a call in flight and drains with the others. A transcript's
    // commit needs only the disk, so its closing runs alongside the workers'.
    const closing = this.#transport.close(graceMs);
    const [report] = await Promise.all([closing, this.#conversations.closeAll(graceMs)]);
    return report;
  }

  /**
   * The door of chat and stream: a plain-data copy of the request, the
   * providers to try, and the request each of them gets (its model or the
   * provider's defaultModel), all checked before any I/O.
   */
  #admitRequest(req: ChatInput): [Map<string, ChatRequest>, string[]] {
    try {
      const request = validateChatRequest(req, this.#options.redactor);
      const route = this.#router.route(request.provider);
      const requests = new Map<string, ChatRequest>();
      for (const provider of route) requests.set(provider, requestFor(request, provider, this.#options.providers[provider]!));
      return [requests, route];
    } catch (err) {
      // A request may name what it should not (a provider called by a key): refusals are redacted too.
      throw err instanceof ParleyError ? this.#options.redactor.error(err) : err;
    }
  }

  /** A call's own timeoutMs, or the runtime's. */
  #timeoutOf(options: CallOptions): number {
    return options.timeoutMs ?? this.#options.timeoutMs;
  }

  /**
   * One deadline for the whole call, fallbacks included: each provider tried
   * gets what is left of it, not a fresh timeoutMs. The clock starts with the
   * first attempt (a stream starts when it is first read).
   */
  #sharedDeadline(options: CallOptions): () => CallOptions {
    const timeoutMs = this.#timeoutOf(options);
    let deadlineAt: number | undefined;
    return () => {
      deadlineAt ??= Date.now() + timeoutMs;
      const left = deadlineAt - Date.now();
      if (left <= 0) throw new ParleyError('TIMEOUT', `the call's ${timeoutMs} ms deadline passed before the next provider could be tried`);
      return { ...options, timeoutMs: left };
    };
  }

  #admit(): void {
    const state = this.#transport.state;
    if (state === 'draining' || state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new calls are taken');
  }

  /** Runs one request/response call on a worker with its deadline and signal. */
  #call<T>(kind: CallKind, provider: string, model: string | undefined, timeoutMs: number, signal: AbortSignal | undefined, work: Work): Promise<T> {
    try {
      this.#admit();
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const call = new RequestCall<T>(this.#transport.calls, kind, provider, model, timeoutMs, signal);
    this.#transport.dispatch(call, work);
    return call.promise;
  }

  #openStream(provider: string, request: ChatRequest, opts: CallOptions): OpenedStream {
    this.#admit();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    const call = new StreamCall(this.#transport.calls, provider, request.model, this.#timeoutOf(opts), opts.signal, this.#options.transport.streamCredits);
    this.#transport.dispatch(call, { kind: 'stream', provider, req: request, port: call.reader.remotePort });
    return {
      next: () => call.reader.next(),
      leave: () => call.leave(),
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
