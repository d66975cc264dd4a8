/**
 * Whether calls are observed, and what each observed call is told to: the
 * `call-start` / `call-end` listeners, the logger (retries, fallbacks) and
 * OpenTelemetry (telemetry.ts). With none of them there, `active` is false and the call
 * path makes no trace at all: one boolean read per call is the whole cost.
 */
import type { EventEmitter } from 'node:events';
import type { ParleyError } from '../../shared/errors.ts';
import type { Redactor } from '../../shared/redaction.ts';
import type { ChatRequest } from '../../shared/types.ts';
import type { CallKind } from '../pending-calls.ts';
import type { CallEndEvent, CallFallback, CallRetry, CallStartEvent } from './call-events.ts';
import { CallTrace } from './call-trace.ts';
import type { RuntimeLog } from './logger.ts';
import type { Telemetry } from './telemetry.ts';

/** The events the observer emits on the runtime. */
export interface CallEvents {
  'call-start': [CallStartEvent];
  'call-end': [CallEndEvent];
}

export class CallObserver {
  /** True when anything observes calls; read on every call, so a plain field. */
  active = false;
  readonly #emitter: EventEmitter;
  readonly #redactor: Redactor;
  readonly #log: RuntimeLog | undefined;
  readonly #telemetry: Telemetry | undefined;
  #listening = false;
  #nextId = 1;

  /** `emitter`: the runtime, whose 'call-start' and 'call-end' listeners are watched. */
  constructor(emitter: EventEmitter, redactor: Redactor, log: RuntimeLog | undefined, telemetry: Telemetry | undefined) {
    this.#emitter = emitter;
    this.#redactor = redactor;
    this.#log = log;
    this.#telemetry = telemetry;
    // 'newListener' fires before the listener is added, 'removeListener' after it is gone.
    emitter.on('newListener', (name: string | symbol) => {
      if (name === 'call-start' || name === 'call-end') this.#listen(true);
    });
    emitter.on('removeListener', (name: string | symbol) => {
      if (name === 'call-start' || name === 'call-end') this.#listen(emitter.listenerCount('call-start') + emitter.listenerCount('call-end') > 0);
    });
    this.#listen(false);
  }

  /** A new call to observe (only when `active`); called where the call is made, so the caller's context is current. */
  begin(kind: CallKind, route: readonly string[], request: ChatRequest | undefined): CallTrace {
    const trace = new CallTrace(this, this.#nextId++, kind, route, request);
    if (this.#telemetry) trace.otel = this.#telemetry.begin();
    return trace;
  }

  started(trace: CallTrace): void {
    if (trace.otel) this.#telemetry!.started(trace, trace.otel);
    if (!this.#listening) return;
    const event: CallStartEvent = { callId: trace.id, kind: trace.kind, providers: [...trace.route] };
    if (trace.model !== undefined) event.model = trace.model;
    this.#emit('call-start', event);
  }

  retried(trace: CallTrace, retry: CallRetry): void {
    if (trace.otel) this.#telemetry!.retried(trace.otel, retry);
    this.#log?.write('info', { event: 'retry', callId: trace.id, kind: trace.kind, ...retry }, `provider "${retry.provider}" was retried after ${retry.code}${retry.status ? ` ${retry.status}` : ''} (waited ${retry.delayMs} ms)`);
  }

  fellBack(trace: CallTrace, fallback: CallFallback): void {
    if (trace.otel) this.#telemetry!.fellBack(trace.otel, fallback);
    this.#log?.write('warn', { event: 'fallback', callId: trace.id, kind: trace.kind, ...fallback }, `provider "${fallback.provider}" failed with ${fallback.code}; trying the next one`);
  }

  ended(trace: CallTrace, event: CallEndEvent, err: ParleyError | undefined): void {
    if (trace.otel) {
      try {
        this.#telemetry!.ended(trace, trace.otel, this.#redactor.value(event), err);
      } catch {
        // An exporter's failure is not the call's.
      }
    }
    if (this.#listening) this.#emit('call-end', event);
  }

  #listen(listening: boolean): void {
    this.#listening = listening;
    this.active = listening || this.#log !== undefined || this.#telemetry !== undefined;
  }

  /**
   * A listener runs inside the call's settling: its throw must not stop the
   * call from settling, so it is rethrown on its own, as a throwing listener
   * of any other emitter surfaces (an uncaught exception).
   */
  #emit<K extends keyof CallEvents>(name: K, event: CallEvents[K][0]): void {
    try {
      this.#emitter.emit(name, this.#redactor.value(event));
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}
