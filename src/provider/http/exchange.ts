/**
 * One HTTP request and its response, driven through undici's dispatch
 * handler rather than `request()`. The body goes straight from undici's
 * parser into a sink (a buffer for JSON replies, the stream decoder for
 * streams) with no Readable stream, async iterator or per-request async
 * resource in between: on a 64-token chat that is about a fifth of the
 * client's CPU (bench/README.md). Backpressure is the sink's to apply: a
 * promise from `data()` pauses the socket until it settles.
 *
 * Every body is read to its end or cancelled: a failed sink, a body past its
 * cap, an error body past what is worth reading, and the call's abort all
 * abort the request, which destroys its socket.
 */
import type { Dispatcher } from 'undici';
import { ParleyError } from '../../shared/errors.ts';
import type { HttpRequestSpec } from '../protocols/adapter.ts';
import { classifyFailure } from './classify-error.ts';
import type { CallContext } from './retries.ts';
import type { CountingAgent } from './sessions.ts';
import { isRetryableStatus, parseRetryAfter } from './retry-after.ts';

/** Returned by a sink that has read all it needs: the rest of the body is cancelled. */
export const ENOUGH = Symbol('enough');

/**
 * Returned by a sink whose answer is complete (the protocol's end marker)
 * while the body may go on: the rest (the tail) is read for a short while, up to
 * TAIL_MAX_MS and TAIL_MAX_BYTES, so a body that ends as it should gives
 * its socket back to the pool; one that lingers (a gateway holding the
 * response open, SSE comments after the end) has its socket destroyed.
 * Either way the exchange then resolves with the sink's result.
 */
export const TAIL = Symbol('tail');

/** How long the rest of a body past its end marker may take to end. */
const TAIL_MAX_MS = 250;
/** How much of the rest of a body past its end marker is read before giving up on it. */
const TAIL_MAX_BYTES = 64 * 1024;

/** Where a 2xx body goes, chunk by chunk. */
export interface BodySink<T> {
  /**
   * A chunk of the body. A promise pauses the socket until it settles; a
   * throw (or rejection) aborts the request with that error; ENOUGH ends
   * the exchange now and cancels the rest; TAIL ends it once the tail is
   * read or given up on. After ENOUGH or TAIL no more chunks come.
   */
  data(chunk: Buffer): void | Promise<void> | typeof ENOUGH | typeof TAIL;
  /** The body ended: what the exchange resolves with. May throw. */
  end(): T;
}

/**
 * Failures of a request written at once to a kept-alive socket, before any
 * byte of its response arrived: the race with a server closing that socket
 * while it sat idle. Only these may be retried without counting (retries.ts);
 * after the first response byte the server has seen the request.
 */
const staleSocketFailures = new WeakSet<object>();

/** True when `err` is an exchange's failure on a reused socket before any response byte. */
export function failedOnStaleSocket(err: unknown): boolean {
  return typeof err === 'object' && err !== null && staleSocketFailures.has(err);
}

/** Error bodies are read for the provider's message, never in full. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** undici takes origin and path; the few URLs a provider uses are split once. */
const targets = new Map<string, { origin: string; path: string }>();
const MAX_TARGETS = 256;

function target(url: string): { origin: string; path: string } {
  let t = targets.get(url);
  if (!t) {
    const parsed = new URL(url);
    t = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
    if (targets.size >= MAX_TARGETS) targets.clear();
    targets.set(url, t);
  }
  return t;
}

type Headers = Record<string, string | string[] | undefined>;

function headerValue(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function httpError(ctx: CallContext, status: number, headers: Headers, text: string): ParleyError {
  const message = ctx.adapter.errorMessage(status, text);
  return new ParleyError('HTTP', `provider "${ctx.provider}" answered HTTP ${status}${message ? `: ${message}` : ''}`, {
    provider: ctx.provider,
    status,
    retryable: isRetryableStatus(status),
    retryAfterMs: parseRetryAfter(headers),
    requestId: headerValue(headers, 'x-request-id') ?? headerValue(headers, 'request-id'),
  });
}

/** The part of undici's handler controller this module uses. */
interface Controller {
  abort(reason: Error): void;
  pause(): void;
  resume(): void;
}

/** One attempt: resolves with the sink's result for a 2xx response, rejects with a ParleyError otherwise. */
export function exchange<T>(ctx: CallContext, spec: HttpRequestSpec, sink: BodySink<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal } = ctx;
    if (signal.aborted) return reject(signal.reason);
    let controller: Controller | undefined;
    let settled = false;
    let status = 0;
    // No socket opened on this Agent between dispatch and the write means the
    // request went out on a kept-alive one. (Another call's new socket in
    // between makes this say no: the safe answer.) An Agent not from
    // createDispatcher() counts nothing, and no socket is taken for reused.
    const openedBefore = (ctx.agent as Partial<CountingAgent>).socketsOpened;
    let reusedSocket = false;
    let responseBegan = false;
    let headers: Headers = {};
    // Set for a non-2xx answer: its body is kept up to a cap, for the message.
    let errorBody: Buffer[] | undefined;
    let errorBytes = 0;
    // Set once the sink returned TAIL: the rest of the body is counted, not read.
    let tailTimer: NodeJS.Timeout | undefined;
    let tailBytes = 0;

    // The place this request holds in its Agent's gate (socket-gate.ts),
    // from dispatch until undici reports it over. An Agent not from
    // createDispatcher() has no gate: undici queues for it.
    const gate = (ctx.agent as Partial<CountingAgent>).gate;
    let placeHeld = false;
    let stopWaiting: (() => void) | undefined;
    const leaveGate = () => {
      if (!placeHeld) return;
      placeHeld = false;
      gate!.leave();
    };

    // A request still waiting for a socket has no controller yet: the call
    // settles now. Waiting in the gate, it is simply taken out; one undici
    // already queued (an Agent without a gate) is refused by onRequestStart
    // when undici later offers it a socket (below).
    const onAbort = () => (controller ? controller.abort(signal.reason as Error) : finish(signal.reason));
    const finish = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      stopWaiting?.();
      if (tailTimer) clearTimeout(tailTimer);
      if (err === undefined) return resolve(value as T);
      if (signal.aborted) return reject(signal.reason);
      const failure = classifyFailure(err, ctx.provider, ctx.proxy);
      if (reusedSocket && !responseBegan && failure.code === 'CONNECTION') staleSocketFailures.add(failure);
      reject(failure);
    };
    const errorText = () => (errorBody ? Buffer.concat(errorBody).toString('utf8') : '');
    // The sink has its answer: resolve with it, and cancel the rest of the body.
    const endEarly = (c: Controller) => {
      handler.onResponseEnd();
      c.abort(new ParleyError('ABORTED', 'the rest of the body was not needed'));
    };

    const handler = {
      onRequestStart(c: Controller) {
        // The call already left (cancelled while queued). Throwing here makes
        // undici drop the request and keep the socket; an abort would
        // destroy a healthy keep-alive socket.
        if (settled) throw new ParleyError('ABORTED', 'the call was cancelled while it waited for a socket');
        controller = c;
        reusedSocket = openedBefore !== undefined && (ctx.agent as CountingAgent).socketsOpened === openedBefore;
      },
      onResponseStart(c: Controller, statusCode: number, responseHeaders: Headers) {
        responseBegan = true;
        // An informational answer (102 Processing, 103 Early Hints) comes
        // before the real one, with no body: only the final status counts.
        if (statusCode < 200) return;
        status = statusCode;
        const requestId = headerValue(responseHeaders, 'x-request-id') ?? headerValue(responseHeaders, 'request-id');
        if (requestId !== undefined) ctx.requestId = requestId;
        if (statusCode < 200 || statusCode >= 300) {
          headers = responseHeaders;
          errorBody = [];
        }
      },
      onResponseData(c: Controller, chunk: Buffer) {
        if (settled) return;
        if (tailTimer) {
          tailBytes += chunk.length;
          if (tailBytes > TAIL_MAX_BYTES) endEarly(c);
          return;
        }
        if (errorBody) {
          errorBody.push(chunk);
          errorBytes += chunk.length;
          // Enough to name the problem: report now, cancel the rest.
          if (errorBytes > MAX_ERROR_BODY_BYTES) c.abort(httpError(ctx, status, headers, errorText().slice(0, MAX_ERROR_BODY_BYTES)));
          return;
        }
        let waiting: ReturnType<BodySink<T>['data']>;
        try {
          waiting = sink.data(chunk);
        } catch (err) {
          c.abort(err as Error);
          return;
        }
        if (waiting === ENOUGH) {
          endEarly(c);
        } else if (waiting === TAIL) {
          tailTimer = setTimeout(() => endEarly(c), TAIL_MAX_MS);
        } else if (waiting) {
          c.pause();
          waiting.then(
            () => {
              if (!settled) c.resume();
            },
            (err: Error) => c.abort(err),
          );
        }
      },
      onResponseEnd() {
        leaveGate();
        if (errorBody) return finish(httpError(ctx, status, headers, errorText()));
        let value: T;
        try {
          value = sink.end();
        } catch (err) {
          return finish(err);
        }
        finish(undefined, value);
      },
      onResponseError(_c: Controller | undefined, err: Error) {
        leaveGate();
        finish(err);
      },
    };

    signal.addEventListener('abort', onAbort);
    const dispatch = () => {
      stopWaiting = undefined;
      placeHeld = gate !== undefined;
      const { origin, path } = target(spec.url);
      const options: Dispatcher.DispatchOptions = { origin, path, method: spec.method, headers: spec.headers };
      if (spec.body !== undefined) options.body = spec.body;
      try {
        ctx.agent.dispatch(options, handler as unknown as Dispatcher.DispatchHandler);
      } catch (err) {
        leaveGate();
        finish(err);
      }
    };
    if (!gate || gate.tryEnter()) dispatch();
    else stopWaiting = gate.wait(dispatch);
  });
}

/** A sink that reads up to `maxBytes` of a body it has no use for, then cancels the rest. */
export function discardSink(maxBytes: number): BodySink<void> {
  let size = 0;
  return {
    data(chunk) {
      size += chunk.length;
      return size > maxBytes ? ENOUGH : undefined;
    },
    end() {},
  };
}

/** A sink that keeps the whole body, up to `maxBytes`. */
export function bufferSink(maxBytes: number, provider: string): BodySink<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    data(chunk) {
      size += chunk.length;
      if (size > maxBytes) {
        throw new ParleyError('TOO_LARGE', `response from provider "${provider}" passed the ${maxBytes}-byte cap`, { provider });
      }
      chunks.push(chunk);
    },
    end: () => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)),
  };
}
