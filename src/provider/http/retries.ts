/**
 * One provider call over HTTP: its context, and the retry loop around its
 * attempts (each attempt an `exchange`, exchange.ts). Retries run only
 * while nothing has reached the caller, inside the call's deadline.
 */
import type { Dispatcher } from 'undici';
import type { ParleyError } from '../../shared/errors.ts';
import type { HttpSettings } from '../../shared/protocol.ts';
import type { CallReport, RetryRecord } from '../../shared/types.ts';
import type { Adapter } from '../protocols/adapter.ts';
import type { CallSignal } from '../call-signal.ts';
import { classifyFailure } from './classify-error.ts';
import { failedOnStaleSocket } from './exchange.ts';
import { backoffDelay } from './retry-after.ts';

export interface CallContext {
  provider: string;
  adapter: Adapter;
  agent: Dispatcher;
  /** The proxy the provider's requests may go through: a failure there names it, not the provider. */
  proxy?: string | undefined;
  settings: HttpSettings;
  signal: CallSignal;
  deadlineAt: number;
  /** Called once per retry, for stats. */
  onRetry?: () => void;
  /** HTTP attempts made so far (withRetries counts them). */
  attempts?: number;
  /** Why each retry was made; undefined until there is one. */
  retries?: RetryRecord[];
  /** The provider's request id on the last response (exchange.ts sets it). */
  requestId?: string;
}

/**
 * What the host is told about the call's attempts, or undefined for the
 * common case (one attempt, no request id), which then costs nothing to carry.
 */
export function callReport(ctx: CallContext): CallReport | undefined {
  const attempts = ctx.attempts ?? 0;
  if (attempts <= 1 && ctx.requestId === undefined) return undefined;
  const report: CallReport = { attempts, retries: ctx.retries ?? [] };
  if (ctx.requestId !== undefined) report.requestId = ctx.requestId;
  return report;
}

function noteRetry(ctx: CallContext, err: ParleyError, delayMs: number): void {
  const record: RetryRecord = { code: err.code, delayMs };
  if (err.status !== undefined) record.status = err.status;
  (ctx.retries ??= []).push(record);
  ctx.onRetry?.();
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
 * Runs `attempt` until it succeeds, fails for good, or runs out of retries or time.
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
    ctx.attempts = (ctx.attempts ?? 0) + 1;
    try {
      return await attempt();
    } catch (raw) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const err = classifyFailure(raw, ctx.provider, ctx.proxy);
      if (!err.retryable || delivered()) throw err;
      // A keep-alive socket the server closed while it sat idle fails the
      // request at once, before any byte of a response; that race is not the
      // provider failing, so the first one is retried immediately and does
      // not count. Any other failure (a new socket, a response that began)
      // counts against maxRetries: the server may have acted on the request.
      if (!staleSocketRetried && failedOnStaleSocket(err)) {
        staleSocketRetried = true;
        noteRetry(ctx, err, 0);
        continue;
      }
      if (retries >= ctx.settings.maxRetries) throw err;
      const wait = Math.min(
        err.retryAfterMs ?? backoffDelay(retries, { baseMs: ctx.settings.retryBaseMs, maxMs: ctx.settings.retryMaxMs }),
        ctx.settings.retryMaxMs,
      );
      if (Date.now() + wait >= ctx.deadlineAt) throw err;
      retries++;
      noteRetry(ctx, err, wait);
      await sleep(wait, ctx.signal);
    }
  }
}
