/**
 * One provider call over HTTP: dispatch, read, classify, retry. Retries run
 * only while nothing has reached the caller, inside the call's deadline.
 */
import { request, type Agent, type Dispatcher } from 'undici';
import { ParleyError } from '../errors.ts';
import type { TransportSettings } from '../protocol.ts';
import type { Adapter, HttpRequestSpec } from './adapter.ts';
import type { CallSignal } from './call-signal.ts';
import { classifyFailure } from './classify-error.ts';
import { backoffDelay, isRetryableStatus, parseRetryAfter } from './retry-after.ts';

export type ResponseBody = Dispatcher.ResponseData['body'];

export interface CallContext {
  provider: string;
  adapter: Adapter;
  agent: Agent;
  settings: TransportSettings;
  signal: CallSignal;
  deadlineAt: number;
  /** Called once per retry, for stats. */
  onRetry?: () => void;
}

/** Error bodies are read for the provider's message, never in full. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export async function readCapped(body: ResponseBody, maxBytes: number, provider: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      throw new ParleyError('TOO_LARGE', `response from provider "${provider}" passed the ${maxBytes}-byte cap`, {
        provider,
      });
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function httpError(ctx: CallContext, res: Dispatcher.ResponseData): Promise<ParleyError> {
  let text = '';
  try {
    text = (await readCapped(res.body, MAX_ERROR_BODY_BYTES, ctx.provider)).toString('utf8');
  } catch {
    // An unreadable error body still leaves the status to report.
  }
  const headers = res.headers as Record<string, string | string[] | undefined>;
  const message = ctx.adapter.errorMessage(res.statusCode, text);
  const retryAfterMs = parseRetryAfter(headers);
  const requestId = headerValue(headers, 'x-request-id') ?? headerValue(headers, 'request-id');
  return new ParleyError('HTTP', `provider "${ctx.provider}" answered HTTP ${res.statusCode}${message ? `: ${message}` : ''}`, {
    provider: ctx.provider,
    status: res.statusCode,
    retryable: isRetryableStatus(res.statusCode),
    retryAfterMs,
    requestId,
  });
}

/** One attempt: resolves with a 2xx response whose body the caller must consume or destroy. */
export async function dispatch(ctx: CallContext, spec: HttpRequestSpec): Promise<Dispatcher.ResponseData> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(spec.url, {
      method: spec.method,
      headers: spec.headers,
      body: spec.body,
      dispatcher: ctx.agent,
      // undici takes any object with add/removeEventListener as a signal.
      signal: ctx.signal as unknown as AbortSignal,
    });
  } catch (err) {
    throw ctx.signal.aborted ? ctx.signal.reason : classifyFailure(err, ctx.provider);
  }
  if (res.statusCode < 200 || res.statusCode >= 300) throw await httpError(ctx, res);
  return res;
}

function sleep(ms: number, signal: CallSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort);
  });
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the budget runs out.
 * `delivered()` says whether anything already reached the caller; once it
 * has, a failure is final, because a retry would repeat what the caller saw.
 */
export async function withRetries<T>(
  ctx: CallContext,
  attempt: () => Promise<T>,
  delivered: () => boolean = () => false,
): Promise<T> {
  let retries = 0;
  let staleSocketRetried = false;
  for (;;) {
    try {
      return await attempt();
    } catch (raw) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const err = classifyFailure(raw, ctx.provider);
      if (!err.retryable || delivered()) throw err;
      // A keep-alive socket the server closed while it sat idle fails the
      // request at once; that race is not the provider failing, so the first
      // one is retried immediately and does not count.
      if (err.code === 'CONNECTION' && !staleSocketRetried) {
        staleSocketRetried = true;
        ctx.onRetry?.();
        continue;
      }
      if (retries >= ctx.settings.maxRetries) throw err;
      const wait = Math.min(
        err.retryAfterMs ?? backoffDelay(retries, { baseMs: ctx.settings.retryBaseMs, maxMs: ctx.settings.retryMaxMs }),
        ctx.settings.retryMaxMs,
      );
      if (Date.now() + wait >= ctx.deadlineAt) throw err;
      retries++;
      ctx.onRetry?.();
      await sleep(wait, ctx.signal);
    }
  }
}
