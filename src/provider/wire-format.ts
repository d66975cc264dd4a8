/**
 * What the three adapters share about the wire: endpoint URLs, headers,
 * reading untyped JSON, and the provider's message out of an error body.
 */
import { ParleyError } from '../errors.ts';
import type { ProviderContext } from './adapter.ts';
import { redactText } from './redact.ts';

export type JsonObject = Record<string, unknown>;

const EXCERPT_CHARS = 120;
const ERROR_MESSAGE_CHARS = 500;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Joins whether or not the base ends with '/' (a `new URL(path, base)` would drop the base's last segment, e.g. `/v1`). */
export function joinUrl(base: string, path: string): string {
  let end = base.length;
  while (end > 0 && base.charCodeAt(end - 1) === 47) end--;
  let start = 0;
  while (start < path.length && path.charCodeAt(start) === 47) start++;
  return `${base.slice(0, end)}/${path.slice(start)}`;
}

/** Defaults first, so a configured header (e.g. a proxy's own auth) wins. */
export function requestHeaders(ctx: ProviderContext, own: Record<string, string>): Record<string, string> {
  return ctx.config.headers === undefined ? own : { ...own, ...ctx.config.headers };
}

export function excerpt(text: string, max = EXCERPT_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** Parses one JSON document of a response; anything else is BAD_RESPONSE with a short excerpt. */
export function parseJson(text: string, provider?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ParleyError('BAD_RESPONSE', `invalid JSON in response: ${JSON.stringify(excerpt(text))}`, {
      ...(provider === undefined ? {} : { provider }),
      cause,
    });
  }
}

export function badResponse(provider: string, what: string, body: unknown): ParleyError {
  let shown: string;
  try {
    shown = excerpt(JSON.stringify(body) ?? String(body));
  } catch {
    shown = typeof body;
  }
  return new ParleyError('BAD_RESPONSE', `${what} (got ${shown})`, { provider });
}

/**
 * Providers sometimes echo the key they were sent. Errors are scrubbed again at
 * the thread boundary; this keeps the key out of anything logged before that.
 */
export function redact(text: string, ctx: ProviderContext): string {
  return ctx.config.apiKey ? redactText(text, [ctx.config.apiKey]) : text;
}

/**
 * The provider's own words out of an error body: `pick` reads a JSON body,
 * any other body is shown as text. Trimmed, at most 500 characters.
 */
export function errorBodyMessage(
  ctx: ProviderContext,
  status: number,
  bodyText: string,
  pick: (body: JsonObject) => string | undefined,
): string {
  const text = bodyText.trim();
  let message: string | undefined;
  if (text.startsWith('{')) {
    try {
      const body: unknown = JSON.parse(text);
      if (isObject(body)) message = pick(body)?.trim();
    } catch {
      // not JSON after all: shown as text below
    }
  }
  message = message || text || `HTTP ${status}`;
  return redact(excerpt(message, ERROR_MESSAGE_CHARS), ctx);
}

/** Arguments as the providers that want an object (Ollama, Anthropic) need them. */
export function parseToolArguments(args: string, field: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch (cause) {
    throw new ParleyError('INVALID_REQUEST', `${field} must be a JSON string (got ${JSON.stringify(excerpt(args))})`, { cause });
  }
}
