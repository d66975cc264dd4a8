/**
 * OpenTelemetry, when the host has it: every call a span following the
 * GenAI semantic conventions (name `chat {model}`, gen_ai.* attributes,
 * error.type), a child of the context active when chat() or stream() was
 * called, with retries and fallbacks as span events; and the GenAI client
 * histograms gen_ai.client.operation.duration (s), gen_ai.client.token.usage
 * ({token}) and, for streams, gen_ai.client.operation.time_to_first_chunk (s).
 *
 * `@opentelemetry/api` is an optional peer dependency. It is imported only
 * when a tracer or meter provider is already registered in the process
 * (the API's global slot is looked at first), so without one nothing is
 * loaded and no call pays anything. Message content is recorded
 * (gen_ai.input.messages, gen_ai.output.messages) only with
 * `telemetry: { recordContent: true }`, as the conventions advise.
 */
import type { Context, Histogram, Span, Tracer } from '@opentelemetry/api';
import { omitPartBytes } from '../../shared/content.ts';
import type { ParleyError } from '../../shared/errors.ts';
import type { ChatResult, ProviderKind } from '../../shared/types.ts';
import type { CallEndEvent, CallFallback, CallRetry } from './call-events.ts';
import type { CallTrace } from './call-trace.ts';

type Api = typeof import('@opentelemetry/api');

/** Where @opentelemetry/api 1.x keeps its registered providers (global-utils.ts in the API). */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
const SCOPE = 'parley';
/** The conventions' advice for the duration histogram, in seconds. */
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

/** options.telemetry. */
export interface TelemetryOptions {
  /** Record the messages sent and the reply on spans (gen_ai.input.messages / gen_ai.output.messages). @default false */
  recordContent?: boolean;
}

/** One call's span, and the context it is a child of. */
export interface CallSpan {
  readonly parent: Context;
  span: Span | undefined;
}

/** Loads the API when a provider is registered; undefined (nothing loaded) otherwise. */
export async function loadTelemetry(kinds: Record<string, ProviderKind>, options: Required<TelemetryOptions>): Promise<Telemetry | undefined> {
  const registered = (globalThis as Record<symbol, { trace?: unknown; metrics?: unknown } | undefined>)[API_GLOBAL];
  if (!registered?.trace && !registered?.metrics) return undefined;
  let api: Api;
  try {
    api = await import('@opentelemetry/api');
  } catch {
    return undefined;
  }
  return new Telemetry(api, registered.trace !== undefined, registered.metrics !== undefined, kinds, options);
}

export class Telemetry {
  readonly #api: Api;
  readonly #tracer: Tracer | undefined;
  readonly #duration: Histogram | undefined;
  readonly #tokens: Histogram | undefined;
  readonly #firstChunk: Histogram | undefined;
  readonly #kinds: Record<string, ProviderKind>;
  readonly #recordContent: boolean;

  constructor(api: Api, tracing: boolean, metering: boolean, kinds: Record<string, ProviderKind>, options: Required<TelemetryOptions>) {
    this.#api = api;
    this.#kinds = kinds;
    this.#recordContent = options.recordContent;
    if (tracing) this.#tracer = api.trace.getTracer(SCOPE);
    if (metering) {
      const meter = api.metrics.getMeter(SCOPE);
      this.#duration = meter.createHistogram('gen_ai.client.operation.duration', {
        description: 'GenAI operation duration',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      });
      this.#tokens = meter.createHistogram('gen_ai.client.token.usage', {
        description: 'Number of input and output tokens used',
        unit: '{token}',
        advice: { explicitBucketBoundaries: TOKEN_BUCKETS },
      });
      this.#firstChunk = meter.createHistogram('gen_ai.client.operation.time_to_first_chunk', {
        description: 'Time to receive the first chunk of a streamed response',
        unit: 's',
        advice: { explicitBucketBoundaries: DURATION_BUCKETS },
      });
    }
  }

  /** At chat() / stream(): the caller's context is the one active now. */
  begin(): CallSpan {
    return { parent: this.#api.context.active(), span: undefined };
  }

  /** The call's first attempt begins. */
  started(trace: CallTrace, call: CallSpan): void {
    if (!this.#tracer) return;
    const provider = trace.route[0]!;
    const chat = trace.kind === 'chat' || trace.kind === 'stream';
    const name = chat ? `chat ${trace.model}` : `${trace.kind} ${provider}`;
    const span = this.#tracer.startSpan(name, { kind: this.#api.SpanKind.CLIENT }, call.parent);
    if (chat) {
      span.setAttribute('gen_ai.operation.name', 'chat');
      span.setAttribute('gen_ai.request.model', trace.model!);
      if (this.#recordContent && trace.request) span.setAttribute('gen_ai.input.messages', JSON.stringify(trace.request.messages, omitPartBytes));
    }
    span.setAttribute('gen_ai.provider.name', this.#kinds[provider] ?? provider);
    span.setAttribute('parley.provider', provider);
    span.setAttribute('parley.call.kind', trace.kind);
    call.span = span;
  }

  retried(call: CallSpan, retry: CallRetry): void {
    const attributes: Record<string, string | number> = { 'parley.provider': retry.provider, 'error.type': retry.code, 'parley.retry.delay_ms': retry.delayMs };
    if (retry.status !== undefined) attributes['http.response.status_code'] = retry.status;
    call.span?.addEvent('parley.retry', attributes);
  }

  fellBack(call: CallSpan, fallback: CallFallback): void {
    call.span?.addEvent('parley.fallback', { 'parley.provider': fallback.provider, 'error.type': fallback.code });
  }

  ended(trace: CallTrace, call: CallSpan, event: CallEndEvent, err: ParleyError | undefined): void {
    const chat = event.kind === 'chat' || event.kind === 'stream';
    const attributes: Record<string, string> = { 'gen_ai.provider.name': this.#kinds[event.provider] ?? event.provider };
    if (chat) {
      attributes['gen_ai.operation.name'] = 'chat';
      if (event.model !== undefined) attributes['gen_ai.request.model'] = event.model;
      if (event.responseModel !== undefined) attributes['gen_ai.response.model'] = event.responseModel;
    }
    if (err) attributes['error.type'] = err.code;
    const span = call.span;
    if (span) {
      span.setAttributes(attributes);
      span.setAttribute('parley.provider', event.provider);
      span.setAttribute('parley.attempts', event.attempts);
      if (event.finishReason !== undefined) span.setAttribute('gen_ai.response.finish_reasons', [event.finishReason]);
      if (event.usage?.inputTokens !== undefined) span.setAttribute('gen_ai.usage.input_tokens', event.usage.inputTokens);
      if (event.usage?.outputTokens !== undefined) span.setAttribute('gen_ai.usage.output_tokens', event.usage.outputTokens);
      if (event.requestId !== undefined) span.setAttribute('parley.request_id', event.requestId);
      if (this.#recordContent && event.ok && chat) span.setAttribute('gen_ai.output.messages', JSON.stringify(outputOf(trace.answer as ChatResult)));
      if (err) span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message: err.message });
      span.end();
    }
    if (!chat || !this.#duration) return;
    this.#duration.record(event.durationMs / 1000, attributes);
    if (event.ttftMs !== undefined) this.#firstChunk!.record(event.ttftMs / 1000, attributes);
    if (event.usage?.inputTokens !== undefined) this.#tokens!.record(event.usage.inputTokens, { ...attributes, 'gen_ai.token.type': 'input' });
    if (event.usage?.outputTokens !== undefined) this.#tokens!.record(event.usage.outputTokens, { ...attributes, 'gen_ai.token.type': 'output' });
  }
}

function outputOf(result: ChatResult): unknown[] {
  return [{ role: 'assistant', content: result.content, finish_reason: result.finishReason, ...(result.toolCalls ? { tool_calls: result.toolCalls } : {}) }];
}
