/**
 * What runs inside a provider worker: the owner of the HTTP sessions. It
 * serves chat, stream, models and health for the providers it was given at
 * start or by the latest configure(), and keeps one abort signal per call so
 * that a cancel, a deadline or shutdown can stop exactly that call's HTTP
 * request.
 */
import type { MessagePort } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';
import { fromWireError, toWireError, type WireError } from '../shared/error-wire.ts';
import type {
  CallMeta,
  ChatAnswer,
  ProviderConnectionStats,
  ProviderServiceApi,
  HttpSettings,
  WorkerCloseReport,
  WorkerStats,
} from '../shared/protocol.ts';
import type { CallReport, ChatRequest, HealthReport, ModelInfo, ProviderConfig } from '../shared/types.ts';
import { callReport, withRetries, type CallContext } from './http/retries.ts';
import { bufferSink, discardSink, exchange } from './http/exchange.ts';
import { environmentProxies, Redactor } from '../shared/redaction.ts';
import { openResources } from './open-resources.ts';
import { agentFigures, createSession, type CountingAgent, type ProviderSession } from './http/sessions.ts';
import { parseJson } from './protocols/wire-format.ts';
import { StreamWriter } from './stream-writer.ts';
import { streamSink } from './stream-sink.ts';
import { shutdownError, unknownProvider } from './refusals.ts';
import { lowerThreadPriority, threadNice } from './thread-priority.ts';
import { CallSignal } from './call-signal.ts';
import { DeadlineSweep } from './deadline-sweep.ts';

/** How long a graceful Agent close may take before its sockets are destroyed. */
const AGENT_CLOSE_WAIT_MS = 1_000;

/** Health probes answer fast or count as down; a slow probe is not a healthy one. */
const HEALTH_DEADLINE_MS = 5_000;
/** What a health probe reads of a 2xx body before it cancels the rest. */
const HEALTH_BODY_BYTES = 128 * 1024;

export class ProviderService implements ProviderServiceApi {
  readonly #workerId: number;
  readonly #settings: HttpSettings;
  #sessions = new Map<string, ProviderSession>();
  /**
   * Every open agent and what holds it: the sessions built on it and the
   * calls running on it. An agent no longer held (its settings replaced,
   * its last call ended) is closed, and with it its sockets.
   */
  readonly #agents = new Map<CountingAgent, number>();
  /** Agents closing because nobody holds them any more: shutdown waits for them too. */
  readonly #retiring = new Set<Promise<void>>();
  /** The settings generation this worker runs on (0: the ones it started with). */
  #generation: number;
  #generationWaiters: { generation: number; resolve: () => void }[] = [];
  readonly #calls = new Map<number, CallSignal>();
  readonly #deadlines = new DeadlineSweep(this.#calls);
  readonly #redactor: Redactor;
  #closing: Promise<WorkerCloseReport> | undefined;
  #release: (() => void) | undefined;
  /** The MessagePorts #release closes; undefined when the role cannot count them. */
  #releasedPorts: number | undefined;
  readonly #niceError: string | undefined;

  /**
   * Built once on each worker thread; `nice` is the thread's priority
   * (thread-priority.ts); `generation` the settings generation `providers` are.
   */
  constructor(workerId: number, providers: Record<string, ProviderConfig>, settings: HttpSettings, nice = 0, generation = 0) {
    this.#workerId = workerId;
    this.#niceError = lowerThreadPriority(nice);
    this.#settings = settings;
    this.#generation = generation;
    this.#redactor = Redactor.of(providers, environmentProxies(process.env));
    this.#sessions = this.#build(providers);
  }

  /** The settings generation this worker runs on. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Live settings: new calls use `providers` from now on. Sessions whose
   * config is unchanged are kept; a changed one gets a new session, on the
   * same agent (and its kept-alive sockets) when origin, proxy and trust are
   * the same. Calls in flight keep the session they started on; an agent
   * nobody holds any more is closed once its last call has ended. A
   * generation not newer than the current one is ignored (the pool repeats
   * its broadcasts).
   */
  configure(generation: number, providers: Record<string, ProviderConfig>): void {
    if (generation <= this.#generation || this.#closing) return;
    this.#generation = generation;
    this.#redactor.learn(providers);
    const previous = this.#sessions;
    this.#sessions = this.#build(providers, previous);
    for (const session of previous.values()) if (this.#sessions.get(session.name) !== session) this.#releaseAgent(session.agent);
    this.#generationWaiters = this.#generationWaiters.filter((w) => (w.generation <= generation ? (w.resolve(), false) : true));
  }

  /** Resolves once the worker runs on `generation` or a newer one, or is closing (a pool task waits for its settings). */
  whenGeneration(generation: number): Promise<void> {
    if (generation <= this.#generation || this.#closing) return Promise.resolve();
    return new Promise((resolve) => this.#generationWaiters.push({ generation, resolve }));
  }

  #build(providers: Record<string, ProviderConfig>, previous = new Map<string, ProviderSession>()): Map<string, ProviderSession> {
    const sessions = new Map<string, ProviderSession>();
    for (const [name, config] of Object.entries(providers)) {
      const kept = previous.get(name);
      if (kept && JSON.stringify(kept.config) === JSON.stringify(config)) {
        sessions.set(name, kept);
        continue;
      }
      const session = createSession(name, config, this.#settings, [...previous.values()]);
      if (kept) Object.assign(session, { requests: kept.requests, retries: kept.retries, errors: kept.errors });
      this.#holdAgent(session.agent);
      sessions.set(name, session);
    }
    return sessions;
  }

  #holdAgent(agent: CountingAgent): void {
    this.#agents.set(agent, (this.#agents.get(agent) ?? 0) + 1);
  }

  #releaseAgent(agent: CountingAgent): void {
    const holders = (this.#agents.get(agent) ?? 1) - 1;
    if (holders > 0) return void this.#agents.set(agent, holders);
    this.#agents.delete(agent);
    const closing: Promise<void> = closeAgent(agent).finally(() => this.#retiring.delete(closing));
    this.#retiring.add(closing);
  }

  async chat(meta: CallMeta, provider: string, req: ChatRequest): Promise<ChatAnswer> {
    return this.#run(meta, provider, async (ctx, session) => {
      const spec = session.adapter.chatRequest(req, false);
      const answer: ChatAnswer = await withRetries(ctx, async () => {
        const body = await exchange(ctx, spec, bufferSink(this.#settings.maxResponseBytes, session.name));
        return session.adapter.parseChat(parseJson(body.toString('utf8'), session.name), req);
      });
      const report = this.#reportOf(ctx);
      if (report) answer.report = report;
      return answer;
    });
  }

  /** Starts a stream and returns at once (the actor's Comlink call); the stream runs on its port. */
  async stream(meta: CallMeta, provider: string, req: ChatRequest, port: MessagePort): Promise<void> {
    void this.streamToEnd(meta, provider, req, port);
  }

  /** Runs a stream on its port; resolves when it has ended either way (a pool task lasts this long). */
  async streamToEnd(meta: CallMeta, provider: string, req: ChatRequest, port: MessagePort): Promise<void> {
    const session = this.#sessions.get(provider);
    if (!session || this.#closing) return this.#refuseStream(port, session ? shutdownError() : unknownProvider(provider));
    let writer: StreamWriter | undefined;
    await this.#run(meta, provider, async (ctx) => {
      const w = (writer = new StreamWriter(port, this.#settings.streamCredits, (reason) => this.cancel(meta.callId, reason)));
      let spec = session.adapter.chatRequest(req, true);
      const { maxResponseBytes } = this.#settings;
      const send = () =>
        withRetries(
          ctx,
          () => exchange(ctx, spec, streamSink(session.adapter.streamParser(req), w, ctx.signal, maxResponseBytes, session.name, () => this.#reportOf(ctx))),
          () => w.delivered,
        );
      let result;
      try {
        result = await send();
      } catch (err) {
        // A provider that refuses an optional field (stream_options) gets the request once more without it.
        if (w.delivered || ctx.signal.aborted || session.adapter.dropRefusedField?.(err, req, true) !== true) throw err;
        // Reported like any retry, so the call's report and stats explain its second attempt.
        (ctx.retries ??= []).push({ code: 'HTTP', status: (err as ParleyError).status ?? 0, delayMs: 0 });
        ctx.onRetry?.();
        spec = session.adapter.chatRequest(req, true);
        result = await send();
      }
      w.end(result, this.#reportOf(ctx));
    }).catch((err: unknown) => {
      if (writer) writer.fail(this.#wire(err));
      else this.#refuseStream(port, err);
    });
  }

  /** A stream that never started still ends with exactly one message on its port. */
  #refuseStream(port: MessagePort, err: unknown): void {
    port.postMessage({ type: 'error', error: this.#wire(err) });
    port.close();
  }

  async models(meta: CallMeta, provider: string): Promise<ModelInfo[]> {
    return this.#run(meta, provider, async (ctx, session) => {
      const spec = session.adapter.modelsRequest();
      return withRetries(ctx, async () => {
        const body = await exchange(ctx, spec, bufferSink(this.#settings.maxResponseBytes, session.name));
        return session.adapter.parseModels(parseJson(body.toString('utf8'), session.name));
      });
    });
  }

  async health(meta: CallMeta, provider: string): Promise<HealthReport> {
    const started = performance.now();
    const probeMeta = { callId: meta.callId, deadlineAt: Math.min(meta.deadlineAt, Date.now() + HEALTH_DEADLINE_MS) };
    try {
      await this.#run(probeMeta, provider, async (ctx, session) => {
        // A 2xx is the answer; a large body (a long model list) is not read to its end.
        await exchange({ ...ctx, settings: { ...ctx.settings, maxRetries: 0 } }, session.adapter.healthRequest(), discardSink(HEALTH_BODY_BYTES));
      });
      return { provider, ok: true, latencyMs: Math.round(performance.now() - started) };
    } catch (err) {
      const wire = this.#wire(err);
      const error: HealthReport['error'] = { code: wire.code, message: wire.message };
      if (wire.status !== undefined) error.status = wire.status;
      return { provider, ok: false, latencyMs: Math.round(performance.now() - started), error };
    }
  }

  cancel(callId: number, reason: WireError): void {
    this.#calls.get(callId)?.abort(fromWireError(reason));
  }

  async stats(): Promise<WorkerStats> {
    const providers: ProviderConnectionStats[] = [];
    for (const s of this.#sessions.values()) {
      providers.push({ provider: s.name, ...agentFigures(s.agent, s.origin), requests: s.requests, retries: s.retries, errors: s.errors });
    }
    const stats: WorkerStats = { workerId: this.#workerId, inFlight: this.#calls.size, providers, heapUsedBytes: process.memoryUsage().heapUsed };
    const nice = threadNice();
    if (nice !== undefined) stats.nice = nice;
    if (this.#niceError !== undefined) stats.niceError = this.#niceError;
    return this.#redactor.value(stats);
  }

  close(): Promise<WorkerCloseReport> {
    this.#closing ??= this.#close().then((report) => {
      const release = this.#release;
      if (release) setImmediate(release);
      return report;
    });
    return this.#closing;
  }

  /**
   * What lets the thread exit once the service is closed: `release` (close
   * the ports the service is reached on) runs on the turn after close() has
   * answered, so the answer is on its way before the channel goes quiet and
   * the event loop runs dry. `releasedPorts`: how many ref'd MessagePorts
   * `release` closes, so the close report can tell whether anything else is
   * left open (WorkerCloseReport.openResources); omitted, it is not told.
   */
  releaseAfterClose(release: () => void, releasedPorts?: number): void {
    this.#release = release;
    this.#releasedPorts = releasedPorts;
  }

  async #close(): Promise<WorkerCloseReport> {
    const aborted = this.#calls.size;
    for (const signal of this.#calls.values()) {
      signal.abort(shutdownError());
    }
    for (const w of this.#generationWaiters.splice(0)) w.resolve();
    // Every call was just aborted, so close() has nothing to wait for.
    const agents = [...this.#agents.keys()];
    this.#agents.clear();
    await Promise.all([...agents.map(closeAgent), ...this.#retiring]);
    const report: WorkerCloseReport = { aborted, agentsClosed: agents.length };
    if (this.#releasedPorts !== undefined) report.openResources = openResources(this.#releasedPorts);
    return report;
  }

  /**
   * Runs one call with its own CallSignal, kept in the calls map until it
   * settles: cancel() and close() abort it there, and the deadline sweep
   * aborts it with TIMEOUT once `meta.deadlineAt` has passed.
   */
  async #run<T>(meta: CallMeta, provider: string, body: (ctx: CallContext, session: ProviderSession) => Promise<T>): Promise<T> {
    const session = this.#sessions.get(provider);
    if (!session) throw this.#boundary(unknownProvider(provider));
    if (this.#closing) throw this.#boundary(shutdownError());
    const signal = new CallSignal(meta.deadlineAt, provider);
    this.#calls.set(meta.callId, signal);
    this.#deadlines.watch();
    session.requests++;
    // The call keeps its agent open until it ends, whatever configure() does meanwhile.
    this.#holdAgent(session.agent);
    const ctx: CallContext = {
      provider,
      adapter: session.adapter,
      agent: session.agent,
      proxy: session.proxy,
      settings: this.#settings,
      signal,
      deadlineAt: meta.deadlineAt,
      onRetry: () => session.retries++,
      attempts: 0,
      retries: undefined,
      requestId: undefined,
    };
    try {
      return await body(ctx, session);
    } catch (err) {
      session.errors++;
      throw this.#boundary(err, this.#reportOf(ctx));
    } finally {
      this.#calls.delete(meta.callId);
      if (!this.#closing) this.#releaseAgent(session.agent);
    }
  }

  /** Every error leaves the worker as a redacted ParleyError, with the call's report when there is one. */
  #boundary(err: unknown, report?: CallReport): ParleyError {
    const wire = this.#wire(err);
    if (report) wire.report = report;
    return fromWireError(wire);
  }

  /** The request id is the provider's to fill: it is redacted like everything else it sends. */
  #reportOf(ctx: CallContext): CallReport | undefined {
    const report = callReport(ctx);
    if (report?.requestId !== undefined) report.requestId = this.#redactor.text(report.requestId);
    return report;
  }

  #wire(err: unknown): WireError {
    return this.#redactor.wire(toWireError(err));
  }
}

/** A graceful close (it waits for the agent's requests), with destroy() as the fallback for a socket that will not let go. */
async function closeAgent(agent: CountingAgent): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    agent.close().then(
      () => true,
      () => false,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), AGENT_CLOSE_WAIT_MS))),
  ]);
  clearTimeout(timer);
  if (!closed) await agent.destroy().catch(() => undefined);
}
