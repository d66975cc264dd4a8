/**
 * One observed call, from its first attempt to its end: a chat, stream,
 * models or health call, over every provider it tried. Each attempt is a
 * PendingCall that tells the trace how it ended (PendingCall.end); the
 * trace ends with the attempt the call ends with, which is the one that
 * succeeded, the last provider, or one whose failure is not fallen back on.
 */
import type { ParleyError } from '../../shared/errors.ts';
import type { ChatRequest, ChatResult } from '../../shared/types.ts';
import { isProviderFailure } from '../fallback-router.ts';
import type { CallKind, PendingCall } from '../pending-calls.ts';
import type { CallEndEvent, CallFallback, CallRetry } from './call-events.ts';
import type { CallObserver } from './call-observer.ts';
import type { CallSpan } from './telemetry.ts';

export class CallTrace {
  readonly id: number;
  readonly kind: CallKind;
  /** The providers the call may try, as asked. */
  readonly route: readonly string[];
  readonly model: string | undefined;
  /** The request of the first provider (chat and stream), for OpenTelemetry's opt-in content. */
  readonly request: ChatRequest | undefined;
  /** The call's OpenTelemetry span, when a tracer is registered. */
  otel: CallSpan | undefined = undefined;
  /** performance.now() when the first attempt began. */
  startedAt = 0;
  /** The answer of a chat attempt that succeeded (set by RequestCall), or a stream's result. */
  answer: unknown = undefined;
  readonly #observer: CallObserver;
  #opened = false;
  #ended = false;
  readonly #tried: string[] = [];
  readonly #fallbacks: CallFallback[] = [];
  readonly #retries: CallRetry[] = [];
  #attempts = 0;
  #ttftMs: number | undefined;
  #requestId: string | undefined;

  constructor(observer: CallObserver, id: number, kind: CallKind, route: readonly string[], request: ChatRequest | undefined) {
    this.#observer = observer;
    this.id = id;
    this.kind = kind;
    this.route = route;
    this.request = request;
    this.model = request?.model;
  }

  /** An attempt is about to be dispatched: the first one starts the call's clock. */
  attach(call: PendingCall): void {
    call.trace = this;
    this.#open(call.startedAt);
  }

  /** The call failed before an attempt could run (shutdown, a signal already aborted, the shared deadline spent). */
  refused(err: ParleyError): void {
    this.#open(performance.now());
    this.#end(this.#tried.at(-1) ?? this.route[0]!, this.model, err);
  }

  attemptEnded(call: PendingCall, err: ParleyError | undefined): void {
    if (this.#ended) return;
    this.#tried.push(call.provider);
    const report = call.report ?? err?.report;
    this.#attempts += report?.attempts ?? (call.workerId === undefined ? 0 : 1);
    if (report) {
      for (const r of report.retries) {
        const retry: CallRetry = { provider: call.provider, ...r };
        this.#retries.push(retry);
        this.#observer.retried(this, retry);
      }
      if (report.requestId !== undefined) this.#requestId = report.requestId;
    }
    const first = call.firstEventAt;
    if (first !== undefined) this.#ttftMs = first - this.startedAt;
    // As the router decides (fallback-router.ts): a stream that delivered anything is not continued elsewhere.
    const fallsBack = err !== undefined && this.#tried.length < this.route.length && first === undefined && isProviderFailure(err);
    if (fallsBack) {
      const fallback: CallFallback = { provider: call.provider, code: err.code };
      this.#fallbacks.push(fallback);
      this.#observer.fellBack(this, fallback);
      return;
    }
    this.#end(call.provider, call.model, err);
  }

  #open(at: number): void {
    if (this.#opened) return;
    this.#opened = true;
    this.startedAt = at;
    this.#observer.started(this);
  }

  #end(provider: string, model: string | undefined, err: ParleyError | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    const event: CallEndEvent = {
      callId: this.id,
      kind: this.kind,
      provider,
      providers: this.#tried,
      fallbacks: this.#fallbacks,
      attempts: this.#attempts,
      retries: this.#retries,
      durationMs: performance.now() - this.startedAt,
      ok: err === undefined,
    };
    if (model !== undefined) event.model = model;
    if (this.#ttftMs !== undefined) event.ttftMs = this.#ttftMs;
    if (this.#requestId !== undefined) event.requestId = this.#requestId;
    const result = err === undefined && (this.kind === 'chat' || this.kind === 'stream') ? (this.answer as ChatResult | undefined) : undefined;
    if (result) {
      event.responseModel = result.model;
      event.finishReason = result.finishReason;
      if (result.usage) event.usage = { ...result.usage };
    }
    if (err) event.errorCode = err.code;
    this.#observer.ended(this, event, err);
  }
}
