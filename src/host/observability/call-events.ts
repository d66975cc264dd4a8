/**
 * What a runtime tells its listeners about each call: `call-start` when a
 * chat, stream, models or health call begins (a stream: on its first read,
 * when its deadline starts), and `call-end` once it has settled, whichever
 * way. A call with fallbacks is one call: one start, one end, every
 * provider it tried listed in order.
 */
import type { ErrorCode } from '../../shared/errors.ts';
import type { RetryRecord, Usage } from '../../shared/types.ts';
import type { CallKind } from '../pending-calls.ts';

export interface CallStartEvent {
  /** Unique within the runtime; the matching call-end carries the same. */
  callId: number;
  kind: CallKind;
  /** The providers the call may try, in the order asked (one for models and health). */
  providers: string[];
  /** The model asked for (chat and stream; with fallbacks, the first provider's). */
  model?: string;
}

/** A retry made by the worker: why the attempt before it failed. */
export interface CallRetry extends RetryRecord {
  provider: string;
}

/** A provider the call left for the next one, and why. */
export interface CallFallback {
  provider: string;
  code: ErrorCode;
}

export interface CallEndEvent {
  callId: number;
  kind: CallKind;
  /** The provider that answered, or the last one tried. */
  provider: string;
  /** The model asked for of that provider (chat and stream). */
  model?: string;
  /** The model that answered, as the provider named it (chat and stream that ended well). */
  responseModel?: string;
  /** Every provider tried, in order. */
  providers: string[];
  fallbacks: CallFallback[];
  /** HTTP attempts over every provider tried (0 when none was made, e.g. refused at shutdown). */
  attempts: number;
  retries: CallRetry[];
  /** Streams: ms from the start to the first events reaching the host. */
  ttftMs?: number;
  /** ms from the start to the end, fractional. */
  durationMs: number;
  usage?: Usage;
  finishReason?: string;
  /** The provider's request id (x-request-id or request-id), when it sent one. */
  requestId?: string;
  ok: boolean;
  /** The code the call failed with (ok false). */
  errorCode?: ErrorCode;
}
