/**
 * How long to wait before trying again: the server's own word first
 * (`retry-after-ms`, `Retry-After`), else exponential backoff with full jitter
 * so that many clients retrying together spread out.
 */

type HeaderValue = string | string[] | undefined;
export type RetryHeaders = Readonly<Record<string, HeaderValue>>;

const NUMBER = /^-?\d+(?:\.\d+)?$/;
/** A time of day is what every HTTP-date form has; Date.parse alone accepts too much. */
const HTTP_DATE_TIME = /\d{1,2}:\d{2}:\d{2}/;
/** asctime() dates carry no zone; HTTP says GMT, Date.parse would say local time. */
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

function header(headers: RetryHeaders, name: string): string | undefined {
  let value = headers[name];
  if (value === undefined) {
    // Node lower-cases header names; a hand-built record may not have.
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === name) {
        value = headers[key];
        break;
      }
    }
  }
  const first = Array.isArray(value) ? value[0] : value;
  return first?.trim();
}

/**
 * The delay a response asks for, in milliseconds: `retry-after-ms` (OpenAI,
 * Azure), else `Retry-After` as seconds (decimals accepted) or as an HTTP
 * date. A time in the past gives 0; a value that is neither gives undefined.
 */
export function parseRetryAfter(headers: RetryHeaders, now: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && NUMBER.test(ms)) return Math.max(0, Math.ceil(Number(ms)));
  const value = header(headers, 'retry-after');
  if (value === undefined || value === '') return undefined;
  if (NUMBER.test(value)) return Math.max(0, Math.ceil(Number(value) * 1000));
  if (!HTTP_DATE_TIME.test(value)) return undefined;
  const at = Date.parse(ASCTIME.test(value) ? `${value} GMT` : value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

export interface BackoffOptions {
  /** Delay cap of the first retry. @default 250 */
  baseMs?: number;
  /** Upper bound of any delay. @default 8000 */
  maxMs?: number;
  /** Source of randomness in [0, 1). @default Math.random */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): uniform in
 * [0, min(maxMs, baseMs * 2^attempt)), the "full jitter" of
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const baseMs = opts.baseMs ?? 250;
  const maxMs = opts.maxMs ?? 8000;
  const random = opts.random ?? Math.random;
  const exponent = Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
  const cap = Math.min(maxMs, baseMs * 2 ** exponent);
  return Math.floor(random() * cap);
}

/** Statuses that say "later" rather than "never": timeout, conflict, rate limit, server errors (Anthropic's 529 overloaded included). */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || (status >= 500 && status <= 599);
}
