/**
 * Requests and call options are checked on the host thread before any I/O,
 * with messages that name the field and what was expected. A request is
 * copied as it is checked, once: the copy is plain JSON data built from the
 * caller's own enumerable properties, so a request made of reactive state
 * (Vue, Svelte 5, MobX, Valtio: Proxies over plain data) crosses to the
 * worker like any other, and whatever cannot be plain data (a getter that
 * throws, a revoked Proxy, a function, a symbol, a BigInt, a cycle) is an
 * INVALID_REQUEST naming its path, never a failure inside the worker.
 */
import { ParleyError } from '../shared/errors.ts';
import { unknownKey } from '../shared/known-keys.ts';
import { checkPartsFor, copyContent } from './part-validation.ts';
import type { Redactor } from '../shared/redaction.ts';
import { checkControlsFor, copyControls } from './request-controls.ts';
import type { CallOptions, ChatInput, ChatRequest, Message, ProviderConfig, ReasoningBlock, ToolCall, ToolSpec } from '../shared/types.ts';

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Deeper than this is refused: in practice a cycle through Proxies that hand out a new Proxy on each read. */
const MAX_DEPTH = 64;

const REQUEST_KEYS: ReadonlySet<string> = new Set(['provider', 'model', 'messages', 'temperature', 'maxTokens', 'topP', 'stop', 'seed', 'tools', 'toolChoice', 'parallelToolCalls', 'reasoning', 'responseFormat', 'extra']);
const MESSAGE_KEYS: ReadonlySet<string> = new Set(['role', 'content', 'reasoningBlocks', 'toolCalls', 'toolCallId', 'name']);
const THINKING_KEYS: ReadonlySet<string> = new Set(['type', 'thinking', 'signature']);
const REDACTED_KEYS: ReadonlySet<string> = new Set(['type', 'data']);
const TOOL_CALL_KEYS: ReadonlySet<string> = new Set(['id', 'name', 'arguments']);
const TOOL_KEYS: ReadonlySet<string> = new Set(['name', 'description', 'parameters']);
const CALL_OPTION_KEYS: ReadonlySet<string> = new Set(['timeoutMs', 'signal']);
const EXTRA_HINT = 'provider-specific fields go in request.extra, e.g. extra: { top_k: 40 }';

type Fields = Record<string, unknown>;

/** How a wrong value is shown in a message: short, never a whole message body, never a secret. */
function describe(value: unknown, redactor: Redactor | undefined): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': {
      const shown = JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
      return redactor ? redactor.text(shown) : shown;
    }
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return 'a BigInt';
    case 'object':
      return Array.isArray(value) ? 'an array' : 'an object';
    case 'undefined':
      return 'undefined';
    default:
      return `a ${typeof value}`;
  }
}

/** Copies a request as plain data while checking it (see the file's comment); request-controls.ts and part-validation.ts use it too. */
export class RequestCopier {
  readonly #redactor: Redactor | undefined;
  /** The objects being copied on the current path: meeting one again is a cycle. */
  readonly #ancestors = new Set<object>();

  constructor(redactor: Redactor | undefined) {
    this.#redactor = redactor;
  }

  invalid(field: string, expected: string, got: unknown): ParleyError {
    return new ParleyError('INVALID_REQUEST', `${field} must be ${expected} (got ${describe(got, this.#redactor)})`);
  }

  unreadable(field: string, err: unknown): ParleyError {
    return new ParleyError('INVALID_REQUEST', `${field} could not be read (a getter threw, or a Proxy was revoked): plain data expected`, { cause: err });
  }

  /** One property, read once; a throwing getter or a revoked Proxy is the caller's INVALID_REQUEST. */
  read(from: Fields, key: string, field: string): unknown {
    try {
      return from[key];
    } catch (err) {
      throw this.unreadable(field, err);
    }
  }

  /** An object's own enumerable keys, or INVALID_REQUEST when it is not a plain object or array. */
  shape(value: unknown, field: string): 'array' | 'object' | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    let proto: unknown;
    let array: boolean;
    try {
      array = Array.isArray(value);
      proto = Object.getPrototypeOf(value);
    } catch (err) {
      throw this.unreadable(field, err);
    }
    if (array) return 'array';
    if (proto === Object.prototype || proto === null) return 'object';
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    throw new ParleyError('INVALID_REQUEST', `${field} must be plain data (got ${typeof name === 'string' && name ? `a ${name}` : 'an object with a prototype'})`);
  }

  keys(value: object, field: string): string[] {
    try {
      return Object.keys(value);
    } catch (err) {
      throw this.unreadable(field, err);
    }
  }

  /** A plain object's fields, checked against `known`; unknown keys are refused with the nearest known one. */
  fields(value: unknown, field: string, known: ReadonlySet<string>, what: string, expected: string, hint?: string): Fields {
    if (this.shape(value, field) !== 'object') throw this.invalid(field, expected, value);
    const obj = value as Fields;
    let unknown: string | undefined;
    try {
      unknown = unknownKey(obj, known, field, what, hint);
    } catch (err) {
      throw this.unreadable(field, err);
    }
    if (unknown) throw new ParleyError('INVALID_REQUEST', unknown);
    const out: Fields = {};
    for (const key of this.keys(obj, field)) {
      const v = this.read(obj, key, `${field}.${key}`);
      if (v !== undefined) out[key] = v;
    }
    return out;
  }

  /** An array's elements, read once each. */
  items(value: unknown, field: string, expected: string): unknown[] {
    if (this.shape(value, field) !== 'array') throw this.invalid(field, expected, value);
    const arr = value as unknown[];
    const length = this.read(arr as unknown as Fields, 'length', `${field}.length`) as number;
    const out: unknown[] = new Array<unknown>(length);
    for (let i = 0; i < length; i++) out[i] = this.read(arr as unknown as Fields, String(i), `${field}[${i}]`);
    return out;
  }

  /** Any JSON value (extra, tool parameters), copied deep. */
  json(value: unknown, field: string, depth = 0): unknown {
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) throw this.invalid(field, 'a finite number (JSON has no NaN or Infinity)', value);
        return value;
      case 'bigint':
        throw this.invalid(field, 'JSON data: a BigInt has no JSON form; send a number or a string', value);
      case 'undefined':
      case 'function':
      case 'symbol':
        throw this.invalid(field, 'JSON data', value);
    }
    if (value === null) return null;
    if (depth >= MAX_DEPTH) throw new ParleyError('INVALID_REQUEST', `${field} nests deeper than ${MAX_DEPTH} levels (a cycle?)`);
    const obj = value as object;
    if (this.#ancestors.has(obj)) throw new ParleyError('INVALID_REQUEST', `${field} refers back to an object that contains it (a cycle); JSON cannot carry it`);
    this.#ancestors.add(obj);
    try {
      if (this.shape(obj, field) === 'array') return this.items(obj, field, 'an array').map((item, i) => this.json(item, `${field}[${i}]`, depth + 1));
      const out: Fields = {};
      for (const key of this.keys(obj, field)) {
        const at = `${field}.${key}`;
        const v = this.read(obj as Fields, key, at);
        // Left out, as JSON.stringify would leave it out.
        if (v !== undefined) out[key] = this.json(v, at, depth + 1);
      }
      return out;
    } finally {
      this.#ancestors.delete(obj);
    }
  }
}

function nonEmptyString(c: RequestCopier, value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw c.invalid(field, 'a non-empty string', value);
  return value;
}

function optionalNumber(c: RequestCopier, value: unknown, field: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw c.invalid(field, `a number from ${min} to ${max}`, value);
  }
}

function copyToolCalls(c: RequestCopier, value: unknown, field: string): ToolCall[] {
  return c.items(value, field, 'an array of tool calls').map((item, i) => {
    const at = `${field}[${i}]`;
    const call = c.fields(item, at, TOOL_CALL_KEYS, 'a tool call field', 'an object with id, name and arguments');
    nonEmptyString(c, call.id, `${at}.id`);
    nonEmptyString(c, call.name, `${at}.name`);
    if (typeof call.arguments !== 'string') throw c.invalid(`${at}.arguments`, 'a JSON string', call.arguments);
    return call as unknown as ToolCall;
  });
}

/** Reasoning blocks as a ChatResult gave them, to be sent back unchanged. */
function copyReasoningBlocks(c: RequestCopier, value: unknown, field: string): ReasoningBlock[] {
  return c.items(value, field, 'an array of reasoning blocks').map((item, i) => {
    const at = `${field}[${i}]`;
    const type = c.shape(item, at) === 'object' ? c.read(item as Fields, 'type', `${at}.type`) : undefined;
    if (type === 'thinking') {
      const block = c.fields(item, at, THINKING_KEYS, 'a thinking block field', 'a reasoning block');
      if (typeof block.thinking !== 'string') throw c.invalid(`${at}.thinking`, 'a string', block.thinking);
      if (block.signature !== undefined && typeof block.signature !== 'string') throw c.invalid(`${at}.signature`, 'a string', block.signature);
      return block as unknown as ReasoningBlock;
    }
    if (type === 'redacted-thinking') {
      const block = c.fields(item, at, REDACTED_KEYS, 'a redacted thinking block field', 'a reasoning block');
      nonEmptyString(c, block.data, `${at}.data`);
      return block as unknown as ReasoningBlock;
    }
    throw c.invalid(`${at}.type`, "'thinking' or 'redacted-thinking'", type);
  });
}

function copyMessage(c: RequestCopier, value: unknown, field: string): Message {
  const message = c.fields(value, field, MESSAGE_KEYS, 'a message field', 'an object with role and content');
  const role = message.role;
  if (typeof role !== 'string' || !ROLES.has(role)) throw c.invalid(`${field}.role`, 'one of system, user, assistant, tool', role);
  if (message.toolCalls !== undefined) {
    if (role !== 'assistant') throw c.invalid(`${field}.toolCalls`, 'absent on a message whose role is not assistant', message.toolCalls);
    message.toolCalls = copyToolCalls(c, message.toolCalls, `${field}.toolCalls`);
  }
  if (message.reasoningBlocks !== undefined) {
    if (role !== 'assistant') throw c.invalid(`${field}.reasoningBlocks`, 'absent on a message whose role is not assistant', message.reasoningBlocks);
    message.reasoningBlocks = copyReasoningBlocks(c, message.reasoningBlocks, `${field}.reasoningBlocks`);
  }
  message.content = copyContent(c, message.content, `${field}.content`, role);
  // An empty content is normal beside tool calls and for a tool that printed
  // nothing; elsewhere it is a mistake most providers refuse.
  const mayBeEmpty = role === 'tool' || (role === 'assistant' && Array.isArray(message.toolCalls) && message.toolCalls.length > 0);
  if (message.content === '' && !mayBeEmpty) throw c.invalid(`${field}.content`, 'a non-empty string or array of parts', message.content);
  if (role === 'tool') nonEmptyString(c, message.toolCallId, `${field}.toolCallId`);
  else if (message.toolCallId !== undefined && typeof message.toolCallId !== 'string') throw c.invalid(`${field}.toolCallId`, 'a string', message.toolCallId);
  if (message.name !== undefined && typeof message.name !== 'string') throw c.invalid(`${field}.name`, 'a string', message.name);
  return message as unknown as Message;
}

function copyTools(c: RequestCopier, value: unknown): ToolSpec[] {
  return c.items(value, 'request.tools', 'an array of tools').map((item, i) => {
    const at = `request.tools[${i}]`;
    const tool = c.fields(item, at, TOOL_KEYS, 'a tool field', 'an object with a name');
    if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) throw c.invalid(`${at}.name`, '1 to 64 letters, digits, _ or -', tool.name);
    if (tool.description !== undefined && typeof tool.description !== 'string') throw c.invalid(`${at}.description`, 'a string', tool.description);
    if (tool.parameters !== undefined) {
      if (c.shape(tool.parameters, `${at}.parameters`) !== 'object') throw c.invalid(`${at}.parameters`, 'a JSON Schema object', tool.parameters);
      tool.parameters = c.json(tool.parameters, `${at}.parameters`);
    }
    return tool as unknown as ToolSpec;
  });
}

function copyProvider(c: RequestCopier, provider: unknown): string | string[] | undefined {
  if (provider === undefined || typeof provider === 'string') return provider === undefined ? undefined : nonEmptyString(c, provider, 'request.provider');
  const names = c.items(provider, 'request.provider', 'a provider name or a non-empty array of names');
  if (names.length === 0) throw c.invalid('request.provider', 'a provider name or a non-empty array of names', provider);
  return names.map((name, i) => nonEmptyString(c, name, `request.provider[${i}]`));
}

/**
 * A plain-data copy of `req`, or ParleyError INVALID_REQUEST naming the
 * first field that is wrong (an unknown key with the nearest known one).
 * `model` may be absent (the provider's defaultModel is applied later).
 * Strings shown in messages pass through `redactor`.
 */
export function validateChatRequest(req: unknown, redactor?: Redactor): ChatInput {
  const c = new RequestCopier(redactor);
  const r = c.fields(req, 'request', REQUEST_KEYS, 'a request field', 'an object', EXTRA_HINT);
  if (r.model !== undefined) nonEmptyString(c, r.model, 'request.model');
  const messages = c.items(r.messages, 'request.messages', 'a non-empty array');
  if (messages.length === 0) throw c.invalid('request.messages', 'a non-empty array', r.messages);
  r.messages = messages.map((m, i) => copyMessage(c, m, `request.messages[${i}]`));
  if (r.provider !== undefined) r.provider = copyProvider(c, r.provider);
  optionalNumber(c, r.temperature, 'request.temperature', 0, 2);
  if (r.maxTokens !== undefined && (!Number.isSafeInteger(r.maxTokens) || (r.maxTokens as number) <= 0)) {
    throw c.invalid('request.maxTokens', 'a positive integer', r.maxTokens);
  }
  optionalNumber(c, r.topP, 'request.topP', 0, 1);
  if (r.stop !== undefined) {
    const stop = c.items(r.stop, 'request.stop', 'an array of strings');
    if (!stop.every((s) => typeof s === 'string')) throw c.invalid('request.stop', 'an array of strings', r.stop);
    r.stop = stop;
  }
  if (r.seed !== undefined && !Number.isSafeInteger(r.seed)) throw c.invalid('request.seed', 'an integer', r.seed);
  if (r.tools !== undefined) r.tools = copyTools(c, r.tools);
  copyControls(c, r);
  if (r.extra !== undefined) {
    if (c.shape(r.extra, 'request.extra') !== 'object') throw c.invalid('request.extra', 'an object', r.extra);
    r.extra = c.json(r.extra, 'request.extra');
  }
  return r as unknown as ChatInput;
}

/** Throws ParleyError INVALID_REQUEST naming the option that is wrong (an unknown key with the nearest known one); undefined means no options. */
export function validateCallOptions(opts: unknown): CallOptions {
  if (opts === undefined) return {};
  const c = new RequestCopier(undefined);
  const o = c.fields(opts, 'options', CALL_OPTION_KEYS, 'a call option', 'an object');
  const timeoutMs = o.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)) {
    throw c.invalid('options.timeoutMs', `a positive number of milliseconds up to ${MAX_TIMER_MS}`, timeoutMs);
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw c.invalid('options.signal', 'an AbortSignal', o.signal);
  // Options stay on the host thread: the caller's own object will do.
  return opts as CallOptions;
}

/**
 * The request as `provider` gets it: its model, else the provider's
 * defaultModel. Throws INVALID_REQUEST when there is neither, or when the
 * provider's protocol cannot express its controls (request-controls.ts), or
 * holds a part the provider cannot take (part-validation.ts). The same
 * object when it names a model.
 */
export function requestFor(request: ChatInput, provider: string, config: ProviderConfig): ChatRequest {
  checkControlsFor(request as ChatRequest, provider, config);
  checkPartsFor(request.messages, provider, config);
  if (request.model !== undefined) return request as ChatRequest;
  if (config.defaultModel === undefined) {
    throw new ParleyError('INVALID_REQUEST', `request.model is required: provider "${provider}" has no defaultModel`, { provider });
  }
  return { ...request, model: config.defaultModel };
}
