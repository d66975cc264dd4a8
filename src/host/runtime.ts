/**
 * The host side of parley: validates at the door, routes each call to the
 * provider worker with a deadline, holds every pending call in one map, and
 * runs the lifecycle (running -> draining -> closed, with restarts in
 * between). It never does I/O itself and never blocks on the worker.
 */
import { EventEmitter } from 'node:events';
import type { Conversation, ConversationInit } from '../conversation/conversation.ts';
import { OpenConversations } from '../conversation/open-conversations.ts';
import { ParleyError } from '../shared/errors.ts';
import { resolveShutdownGrace, type ResolvedOptions, type RuntimeOptions } from './options.ts';
import { resolveProviderSettings, type ProviderSettings } from './provider-settings.ts';
import { abortError, type CallKind } from './pending-calls.ts';
import { requestFor, validateCallOptions, validateChatRequest } from './request-validation.ts';
import { FallbackRouter, type OpenedStream, type ProviderHealthStats } from './fallback-router.ts';
import { RequestCall, StreamCall } from './calls.ts';
import { failedStream, iteratedOnce } from './stream-once.ts';
import { chatWithOutput, streamWithOutput } from './structured-output.ts';
import type { CallOptions, ChatInput, ChatRequest, ChatResult, HealthReport, InferOutput, ModelInfo, StandardSchema, StreamEvent, StructuredChatInput } from '../shared/types.ts';
import type { WorkerStats } from '../shared/protocol.ts';
import type { CrashRecord, WorkerEvents, RuntimeState, ShutdownReport, TransportClass, Work, WorkerTransport } from './transport/worker-transport.ts';
import { CallObserver, type CallEvents } from './observability/call-observer.ts';
import type { CallTrace } from './observability/call-trace.ts';
import { RuntimeLog } from './observability/logger.ts';
import type { ProviderLatency } from './observability/latency-window.ts';
import { logLifecycle } from './observability/lifecycle-log.ts';
import type { Telemetry } from './observability/telemetry.ts';

export type { RuntimeState, ShutdownReport };

/** The workers' lifecycle events, and `call-start` / `call-end` for every call (observability/call-events.ts). */
export interface RuntimeEvents extends WorkerEvents, CallEvents {}

/** A provider's breaker figures and its recent latency. */
export interface ProviderStats extends ProviderHealthStats {
  /** p50 / p99 of the duration and time to first chunk of the calls that ended well lately (observability/latency-window.ts). */
  latency: ProviderLatency;
}

export interface RuntimeStats {
  state: RuntimeState;
  inFlight: number;
  completed: number;
  failed: number;
  restarts: number;
  lastCrash?: CrashRecord;
  workers: WorkerStats[];
  providers: ProviderStats[];
}

/** createRuntime's view of a runtime's readiness (its transport is private to the class); set by the class's static block. */
let whenReady: (runtime: Runtime) => Promise<void>;

/** Resolves once the runtime's workers have loaded and answered; rejects with WORKER_CRASHED saying why they could not start. Not public: createRuntime waits for it. */
export function runtimeReady(runtime: Runtime): Promise<void> {
  return whenReady(runtime);
}

export class Runtime extends EventEmitter<RuntimeEvents> {
  readonly #options: ResolvedOptions;
  readonly #transport: WorkerTransport;
  readonly #router: FallbackRouter;
  readonly #conversations: OpenConversations;
  readonly #observer: CallObserver;
  readonly #log: RuntimeLog | undefined;
  #shutdown: Promise<ShutdownReport> | undefined;

  /** Use createRuntime(), which loads the mode's `Transport`. `telemetry`: OpenTelemetry, when the host registered a provider. */
  constructor(options: ResolvedOptions, Transport: TransportClass, telemetry?: Telemetry) {
    super();
    this.#options = options;
    this.#router = new FallbackRouter(options.defaultProvider, Object.keys(options.providers), options.breaker);
    this.#log = options.logger && new RuntimeLog(options.logger, options.redactor);
    this.#observer = new CallObserver(this as EventEmitter, options.redactor, this.#log, telemetry);
    if (this.#log) logLifecycle(this.#log, this as EventEmitter<WorkerEvents>, this.#router);
    const events = this as EventEmitter<WorkerEvents>;
    this.#transport = new Transport(options, events, this.#router);
    this.#conversations = new OpenConversations(this, options.timeoutMs);
  }

  static {
    whenReady = (runtime) =>
      runtime.#transport.ready().catch((err: unknown) => {
        // At creation there is no runtime to restart yet: say what stopped the worker.
        const crash = runtime.#transport.lastCrash;
        if (!(err instanceof ParleyError) || err.code !== 'WORKER_CRASHED' || !crash) throw err;
        throw new ParleyError('WORKER_CRASHED', `the provider worker could not start: ${crash.reason}`, { cause: err });
      });
  }

  get state(): RuntimeState {
    return this.#transport.state;
  }

  /** One reply; with `responseFormat`, its `object` is the validated value (typed by a Standard Schema; INVALID_OUTPUT when it does not fit). */
  chat<S extends StandardSchema>(req: StructuredChatInput<S>, opts?: CallOptions): Promise<ChatResult & { object: InferOutput<S> }>;
  chat(req: ChatInput, opts?: CallOptions): Promise<ChatResult>;
  chat(req: ChatInput, opts?: CallOptions): Promise<ChatResult> {
    return chatWithOutput(req, this.#options.providers, (request) => this.#chat(request, opts));
  }

  #chat(req: ChatInput, opts?: CallOptions): Promise<ChatResult> {
    let requests: Map<string, ChatRequest>;
    let options: CallOptions;
    let route: string[];
    try {
      [requests, route] = this.#admitRequest(req);
      options = validateCallOptions(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const trace = this.#observer.active ? this.#observer.begin('chat', route, requests.get(route[0]!)) : undefined;
    // One provider (the common case): no fallback loop and no deadline to share.
    if (route.length === 1) {
      const provider = route[0]!;
      const request = requests.get(provider)!;
      return this.#call<ChatResult>('chat', provider, request.model, this.#timeoutOf(options), options.signal, { kind: 'chat', provider, req: request }, trace);
    }
    const deadline = this.#sharedDeadline(options, trace);
    return this.#router.run(route, (provider) => {
      const left = deadline();
      const request = requests.get(provider)!;
      return this.#call<ChatResult>('chat', provider, request.model, left.timeoutMs!, left.signal, { kind: 'chat', provider, req: request }, trace);
    });
  }

  /**
   * One reply as it is generated: `text`, `reasoning` and `tool_call` events
   * (with `responseFormat`, `object` events: the JSON so far, parsed
   * best-effort), then one `done` event with the whole ChatResult (the text events
   * concatenate to its content), or the iteration throws a ParleyError.
   *
   * The request is sent on the first next(), and the deadline (timeoutMs,
   * default the runtime's) runs from then. Bad input surfaces where every
   * other failure does: from the iteration, not from this call.
   *
   * - One stream is one call, iterated once. A second
   *   `[Symbol.asyncIterator]()` (a second for-await over the same stream,
   *   during or after the first) gets an iterator whose first next() rejects
   *   with INVALID_REQUEST: a replay would have to keep every event, and two
   *   loops sharing one call would each get half of the tokens. Call
   *   stream() again for another reply.
   * - next() may be called before the last one settled: each settles, in the
   *   order made, with the next event; after the end every next() gives
   *   `done: true`.
   * - Leaving the loop (return()) cancels the HTTP request. An iterator
   *   dropped without return() holds its call, port and socket until the
   *   call's deadline at the latest, then everything is released.
   */
  stream(req: ChatInput, opts?: CallOptions): AsyncIterable<StreamEvent> {
    return iteratedOnce(streamWithOutput(req, this.#options.providers, (request) => this.#stream(request, opts)));
  }

  #stream(req: ChatInput, opts?: CallOptions): AsyncIterable<StreamEvent> {
    try {
      const [requests, route] = this.#admitRequest(req);
      const options = validateCallOptions(opts);
      const trace = this.#observer.active ? this.#observer.begin('stream', route, requests.get(route[0]!)) : undefined;
      const deadline = this.#sharedDeadline(options, trace);
      return this.#router.stream(route, (provider) => this.#openStream(provider, requests.get(provider)!, deadline(), trace));
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
    const trace = this.#observer.active ? this.#observer.begin('models', [name], undefined) : undefined;
    return this.#call<ModelInfo[]>('models', name, undefined, this.#timeoutOf(options), options.signal, { kind: 'models', provider: name }, trace);
  }

  /** Probes one provider, or all of them; a provider being down is a report, not an error. */
  health(provider: string, opts?: CallOptions): Promise<HealthReport>;
  health(provider?: undefined, opts?: CallOptions): Promise<HealthReport[]>;
  async health(provider?: string, opts?: CallOptions): Promise<HealthReport | HealthReport[]> {
    const options = validateCallOptions(opts);
    const timeoutMs = this.#timeoutOf(options);
    let names: string[];
    try {
      names = provider === undefined ? Object.keys(this.#options.providers) : [this.#router.single(provider)];
    } catch (err) {
      // A provider may be named by what it should not be (a key): refusals are redacted too.
      throw err instanceof ParleyError ? this.#options.redactor.error(err) : err;
    }
    const reports = await Promise.all(
      names.map((name) =>
        this.#call<HealthReport>('health', name, undefined, timeoutMs, options.signal, { kind: 'health', provider: name }, this.#observer.active ? this.#observer.begin('health', [name], undefined) : undefined).catch(
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
    init = this.#withDefaultModel(init);
    const log = this.#log;
    // A transcript's warnings go to the logger, unless the conversation has its own onWarning.
    if (log && typeof init === 'object' && init !== null && init.onWarning === undefined) {
      return this.#conversations.open({ ...init, onWarning: (message) => log.write('warn', { event: 'transcript-warning', store: init.store }, message) });
    }
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
      providers: this.#router.stats().map((p) => ({ ...p, latency: transport.calls.latency.snapshot(p.provider) })),
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
   * finish within `graceMs` milliseconds (default 5,000; `Infinity`: wait for
   * every call in flight, each bounded by its own deadline), abandon the rest
   * with SHUTDOWN, close every Agent and let the worker exit by itself
   * (terminate only as a fallback, and `forced` says so); a worker that
   * closed everything is not waited for while V8 tears its thread down.
   * `opts` may be omitted, undefined or null.
   *
   * Rejects with CONFIG, like every other bad argument of this API, when
   * `opts` is not an object or `graceMs` is not a number >= 0 (NaN, negative,
   * a string), after the first shutdown too; the runtime then keeps
   * running. Idempotent: every valid call after the first resolves with the
   * same report.
   */
  shutdown(opts?: { graceMs?: number } | null): Promise<ShutdownReport> {
    let graceMs: number;
    try {
      // Checked on every call: a bad argument is CONFIG, before or after the first shutdown.
      graceMs = resolveShutdownGrace(opts);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#shutdown) return this.#shutdown;
    this.#shutdown = this.#shutdownOnce(graceMs);
    return this.#shutdown;
  }

  async #shutdownOnce(graceMs: number): Promise<ShutdownReport> {
    // The transport refuses new calls before this line returns; the
    // conversations then fail their queued turns at once, while a running
    // turn is a call in flight and drains with the others. A transcript's
    // commit needs only the disk, so its closing runs alongside the workers'.
    this.#log?.write('info', { event: 'shutdown-started', graceMs, inFlight: this.#transport.calls.size }, 'runtime shutting down');
    const closing = this.#transport.close(graceMs);
    const [report] = await Promise.all([closing, this.#conversations.closeAll(graceMs)]);
    this.#log?.write(report.forced ? 'warn' : 'info', { event: 'shutdown', ...report }, report.forced ? 'runtime shut down; a worker had to be terminated' : 'runtime shut down');
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

  /** A conversation that names no model takes its (first) provider's defaultModel; the door checks the rest. */
  #withDefaultModel(init: ConversationInit): ConversationInit {
    if (typeof init !== 'object' || init === null || init.model !== undefined) return init;
    const first = Array.isArray(init.provider) ? init.provider[0] : init.provider;
    const config = this.#options.providers[typeof first === 'string' ? first : this.#options.defaultProvider];
    return config?.defaultModel === undefined ? init : { ...init, model: config.defaultModel };
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
  #sharedDeadline(options: CallOptions, trace: CallTrace | undefined): () => CallOptions {
    const timeoutMs = this.#timeoutOf(options);
    let deadlineAt: number | undefined;
    return () => {
      deadlineAt ??= Date.now() + timeoutMs;
      const left = deadlineAt - Date.now();
      if (left <= 0) {
        const err = new ParleyError('TIMEOUT', `the call's ${timeoutMs} ms deadline passed before the next provider could be tried`);
        trace?.refused(err);
        throw err;
      }
      return { ...options, timeoutMs: left };
    };
  }

  #admit(): void {
    const state = this.#transport.state;
    if (state === 'draining' || state === 'closed') throw new ParleyError('SHUTDOWN', 'the runtime is shutting down or shut down; no new calls are taken');
  }

  /** Runs one request/response call on a worker with its deadline and signal. */
  #call<T>(kind: CallKind, provider: string, model: string | undefined, timeoutMs: number, signal: AbortSignal | undefined, work: Work, trace: CallTrace | undefined): Promise<T> {
    try {
      this.#admit();
      if (signal?.aborted) throw abortError(signal);
    } catch (err) {
      trace?.refused(err as ParleyError);
      return Promise.reject(err);
    }
    const call = new RequestCall<T>(this.#transport.calls, kind, provider, model, timeoutMs, signal);
    if (trace !== undefined) trace.attach(call);
    this.#transport.dispatch(call, work);
    return call.promise;
  }

  #openStream(provider: string, request: ChatRequest, opts: CallOptions, trace: CallTrace | undefined): OpenedStream {
    try {
      this.#admit();
      if (opts.signal?.aborted) throw abortError(opts.signal);
    } catch (err) {
      trace?.refused(err as ParleyError);
      throw err;
    }
    const call = new StreamCall(this.#transport.calls, provider, request.model, this.#timeoutOf(opts), opts.signal, this.#options.http.streamCredits);
    if (trace !== undefined) trace.attach(call);
    this.#transport.dispatch(call, { kind: 'stream', provider, req: request, port: call.reader.remotePort });
    return {
      next: () => call.reader.next(),
      leave: () => call.leave(),
    };
  }
}
