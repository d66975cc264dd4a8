/**
 * One error class with a stable `code` that callers match on. Error messages
 * are for people; codes are for programs. The message text may change, the
 * codes never do.
 */
import type { CallReport } from './types.ts';

export const ERROR_CODES = [
  'CONFIG',
  'INVALID_REQUEST',
  'TIMEOUT',
  'ABORTED',
  'SHUTDOWN',
  'WORKER_CRASHED',
  'UNREACHABLE',
  'CONNECTION',
  'HTTP',
  'PROVIDER',
  'BAD_RESPONSE',
  'INCOMPLETE',
  'TOO_LARGE',
  'QUEUE_FULL',
  'INVALID_OUTPUT',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ParleyErrorOptions {
  provider?: string;
  status?: number;
  retryable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
  /** Provider's request id (x-request-id / request-id), when it sent one. */
  requestId?: string;
  /** The failed call's attempts and retries, when a provider worker ran it. */
  report?: CallReport;
}

/** Codes that are worth retrying by default when nothing has reached the caller yet. */
const RETRYABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set(['UNREACHABLE', 'CONNECTION', 'WORKER_CRASHED']);

export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  readonly code: ErrorCode;
  readonly provider?: string;
  readonly status?: number;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly requestId?: string;
  /** The failed call's attempts and retries, when a provider worker ran it (not in toJSON). */
  readonly report?: CallReport;

  constructor(code: ErrorCode, message: string, options: ParleyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.provider !== undefined) this.provider = options.provider;
    if (options.status !== undefined) this.status = options.status;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options.requestId !== undefined) this.requestId = options.requestId;
    if (options.report !== undefined) this.report = options.report;
    this.retryable = options.retryable ?? RETRYABLE_BY_DEFAULT.has(code);
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      provider: this.provider,
      status: this.status,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      requestId: this.requestId,
    };
  }
}

export function isParleyError(value: unknown): value is ParleyError {
  return value instanceof ParleyError;
}

/** True when `err` is a ParleyError with one of the given codes. */
export function hasCode(err: unknown, ...codes: ErrorCode[]): err is ParleyError {
  return err instanceof ParleyError && codes.includes(err.code);
}
