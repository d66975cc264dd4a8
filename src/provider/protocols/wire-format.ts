/**
 * What the three adapters share about the wire format: reading untyped JSON,
 * the OpenAI-style shapes Ollama copied (function tools, the `error` field),
 * model lists, and the provider's message out of an error body.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ModelInfo, ToolSpec } from '../../shared/types.ts';
import type { ProviderContext } from './adapter.ts';
import { Redactor } from '../../shared/redaction.ts';

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

const redactors = new WeakMap<object, Redactor>();

/**
 * Providers sometimes echo the credentials they were sent. Errors are
 * scrubbed again at the thread boundary; this keeps them out of anything
 * built before that, and runs before any excerpt is cut.
 */
export function redact(text: string, ctx: ProviderContext): string {
  let redactor = redactors.get(ctx.config);
  if (!redactor) redactors.set(ctx.config, (redactor = Redactor.of({ [ctx.name]: ctx.config })));
  return redactor.text(text);
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
  return excerpt(redact(message, ctx), ERROR_MESSAGE_CHARS);
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

/** Tools as OpenAI's `{ type: 'function', function }`, which Ollama takes as well. */
export function functionTools(tools: ToolSpec[]): JsonObject[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  }));
}

/** The `error` field as OpenAI and Ollama send it: a string, or an object with a message. */
export function errorFieldText(body: JsonObject): string | undefined {
  const error = body.error;
  if (typeof error === 'string') return error;
  if (isObject(error)) return asString(error.message) ?? excerpt(JSON.stringify(error));
  return undefined;
}

/**
 * The models listed in `body[field]`; `read` turns one entry into a ModelInfo,
 * or undefined for an entry to skip.
 */
export function modelList(
  provider: string,
  body: unknown,
  field: string,
  read: (entry: JsonObject) => ModelInfo | undefined,
): ModelInfo[] {
  const entries = isObject(body) ? body[field] : undefined;
  if (!Array.isArray(entries)) throw badResponse(provider, `model list has no ${field} array`, body);
  const models: ModelInfo[] = [];
  for (const entry of entries) {
    const model = isObject(entry) ? read(entry) : undefined;
    if (model !== undefined) models.push(model);
  }
  return models;
}

/**
 * An error a stream reported outside its normal frames (`event: error`, an
 * `error:` field), whose data may be JSON or plain text: PROVIDER with the
 * server's own words; `fromBody` reads a JSON body.
 */
export function streamError(ctx: ProviderContext, data: string, fromBody: (body: JsonObject) => ParleyError): ParleyError {
  let body: unknown;
  try {
    body = JSON.parse(data);
  } catch {
    body = undefined;
  }
  if (isObject(body)) return fromBody(body);
  const text = data.trim() === '' ? 'the server reported an error without a message' : excerpt(data.trim(), ERROR_MESSAGE_CHARS);
  return new ParleyError('PROVIDER', redact(text, ctx), { provider: ctx.name });
}
