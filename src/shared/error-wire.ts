/**
 * The one explicit serializer for errors crossing the thread boundary.
 * Structured clone keeps `message` but drops `code` and the class, so every
 * error is flattened to a WireError on one side and rebuilt on the other.
 */
import { ERROR_CODES, ParleyError, type ErrorCode } from './errors.ts';
import type { CallReport } from './types.ts';

export interface WireError {
  code: ErrorCode;
  message: string;
  provider?: string;
  status?: number;
  retryable: boolean;
  retryAfterMs?: number;
  requestId?: string;
  report?: CallReport;
  /** A flattened cause chain: name, message and code only (never objects that might hold secrets). */
  cause?: WireCause;
}

export interface WireCause {
  name: string;
  message: string;
  code?: string;
  cause?: WireCause;
}

const CODES: ReadonlySet<string> = new Set(ERROR_CODES);
const MAX_CAUSE_DEPTH = 4;

/**
 * A printable form of any value, for messages. A caller's value can be
 * anything (an abort reason of Object.create(null), an object whose
 * toString throws, a revoked Proxy, a symbol): describing it must never
 * throw, or the error being built is lost and the call with it.
 */
export function describeValue(value: unknown): string {
  try {
    if (value instanceof Error) return String(value.message);
    return String(value);
  } catch {
    return `an unprintable ${typeof value}`;
  }
}

function flattenCause(value: unknown, depth: number): WireCause | undefined {
  if (value === undefined || value === null || depth >= MAX_CAUSE_DEPTH) return undefined;
  try {
    if (value instanceof Error) {
      const code = (value as { code?: unknown }).code;
      const out: WireCause = { name: String(value.name), message: String(value.message) };
      if (typeof code === 'string') out.code = code;
      const inner = flattenCause((value as { cause?: unknown }).cause, depth + 1);
      if (inner) out.cause = inner;
      return out;
    }
  } catch {
    // A getter that throws, or a revoked Proxy: described below like any other value.
  }
  return { name: typeof value, message: describeValue(value) };
}

function rebuildCause(wire: WireCause | undefined): Error | undefined {
  if (!wire) return undefined;
  const inner = rebuildCause(wire.cause);
  const err = new Error(wire.message, inner ? { cause: inner } : undefined);
  err.name = wire.name;
  if (wire.code !== undefined) (err as Error & { code?: string }).code = wire.code;
  return err;
}

/** Any thrown value becomes a WireError; non-Parley errors are classified as BAD_RESPONSE. */
export function toWireError(err: unknown): WireError {
  if (err instanceof ParleyError) {
    const wire: WireError = { code: err.code, message: err.message, retryable: err.retryable };
    if (err.provider !== undefined) wire.provider = err.provider;
    if (err.status !== undefined) wire.status = err.status;
    if (err.retryAfterMs !== undefined) wire.retryAfterMs = err.retryAfterMs;
    if (err.requestId !== undefined) wire.requestId = err.requestId;
    if (err.report !== undefined) wire.report = err.report;
    const cause = flattenCause(err.cause, 0);
    if (cause) wire.cause = cause;
    return wire;
  }
  const cause = flattenCause(err, 0);
  const message = describeValue(err);
  return { code: 'BAD_RESPONSE', message: `unexpected error in provider worker: ${message}`, retryable: false, ...(cause ? { cause } : {}) };
}

export function fromWireError(wire: WireError): ParleyError {
  const code: ErrorCode = CODES.has(wire.code) ? wire.code : 'BAD_RESPONSE';
  return new ParleyError(code, wire.message, {
    provider: wire.provider,
    status: wire.status,
    retryable: wire.retryable,
    retryAfterMs: wire.retryAfterMs,
    requestId: wire.requestId,
    report: wire.report,
    cause: rebuildCause(wire.cause),
  });
}
