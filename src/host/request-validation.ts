/**
 * Requests and call options are checked on the host thread before any I/O,
 * with messages that name the field and what was expected. Nothing is copied:
 * the same object is returned, typed.
 */
import { ParleyError } from '../shared/errors.ts';
import type { CallOptions, ChatRequest } from '../shared/types.ts';

const ROLES: ReadonlySet<string> = new Set(['system', 'user', 'assistant', 'tool']);
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX_TIMER_MS = 2 ** 31 - 1;

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** How a wrong value is shown in a message: short, and never a whole message body. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function invalid(field: string, expected: string, got: unknown): ParleyError {
  return new ParleyError('INVALID_REQUEST', `${field} must be ${expected} (got ${describe(got)})`);
}

function nonEmptyString(value: unknown, field: string): void {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'a non-empty string', value);
}

function optionalNumber(value: unknown, field: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw invalid(field, `a number from ${min} to ${max}`, value);
  }
}

function validateToolCalls(value: unknown, field: string): void {
  if (!Array.isArray(value)) throw invalid(field, 'an array of tool calls', value);
  for (let i = 0; i < value.length; i++) {
    const call: unknown = value[i];
    const at = `${field}[${i}]`;
    if (!isFields(call)) throw invalid(at, 'an object with id, name and arguments', call);
    nonEmptyString(call.id, `${at}.id`);
    nonEmptyString(call.name, `${at}.name`);
    if (typeof call.arguments !== 'string') throw invalid(`${at}.arguments`, 'a JSON string', call.arguments);
  }
}

function validateMessage(message: unknown, field: string): void {
  if (!isFields(message)) throw invalid(field, 'an object with role and content', message);
  const role = message.role;
  if (typeof role !== 'string' || !ROLES.has(role)) throw invalid(`${field}.role`, 'one of system, user, assistant, tool', role);
  if (message.toolCalls !== undefined) {
    if (role !== 'assistant') throw invalid(`${field}.toolCalls`, 'absent on a message whose role is not assistant', message.toolCalls);
    validateToolCalls(message.toolCalls, `${field}.toolCalls`);
  }
  if (typeof message.content !== 'string') throw invalid(`${field}.content`, 'a string', message.content);
  // An empty content is normal beside tool calls and for a tool that printed
  // nothing; elsewhere it is a mistake most providers refuse.
  const mayBeEmpty = role === 'tool' || (role === 'assistant' && Array.isArray(message.toolCalls) && message.toolCalls.length > 0);
  if (message.content === '' && !mayBeEmpty) throw invalid(`${field}.content`, 'a non-empty string', message.content);
  if (role === 'tool') nonEmptyString(message.toolCallId, `${field}.toolCallId`);
  if (message.name !== undefined && typeof message.name !== 'string') throw invalid(`${field}.name`, 'a string', message.name);
}

function validateTools(tools: unknown): void {
  if (!Array.isArray(tools)) throw invalid('request.tools', 'an array of tools', tools);
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i];
    const at = `request.tools[${i}]`;
    if (!isFields(tool)) throw invalid(at, 'an object with a name', tool);
    if (typeof tool.name !== 'string' || !TOOL_NAME.test(tool.name)) {
      throw invalid(`${at}.name`, '1 to 64 letters, digits, _ or -', tool.name);
    }
    if (tool.description !== undefined && typeof tool.description !== 'string') {
      throw invalid(`${at}.description`, 'a string', tool.description);
    }
    if (tool.parameters !== undefined && !isFields(tool.parameters)) {
      throw invalid(`${at}.parameters`, 'a JSON Schema object', tool.parameters);
    }
  }
}

function validateProvider(provider: unknown): void {
  if (provider === undefined) return;
  if (Array.isArray(provider)) {
    if (provider.length === 0) throw invalid('request.provider', 'a provider name or a non-empty array of names', provider);
    provider.forEach((name, i) => nonEmptyString(name, `request.provider[${i}]`));
    return;
  }
  nonEmptyString(provider, 'request.provider');
}

/** Throws ParleyError INVALID_REQUEST naming the first field that is wrong. */
export function validateChatRequest(req: unknown): ChatRequest {
  if (!isFields(req)) throw invalid('request', 'an object', req);
  nonEmptyString(req.model, 'request.model');
  const messages = req.messages;
  if (!Array.isArray(messages) || messages.length === 0) throw invalid('request.messages', 'a non-empty array', messages);
  for (let i = 0; i < messages.length; i++) validateMessage(messages[i], `request.messages[${i}]`);
  validateProvider(req.provider);
  optionalNumber(req.temperature, 'request.temperature', 0, 2);
  if (req.maxTokens !== undefined && (!Number.isSafeInteger(req.maxTokens) || (req.maxTokens as number) <= 0)) {
    throw invalid('request.maxTokens', 'a positive integer', req.maxTokens);
  }
  optionalNumber(req.topP, 'request.topP', 0, 1);
  if (req.stop !== undefined && (!Array.isArray(req.stop) || !req.stop.every((s) => typeof s === 'string'))) {
    throw invalid('request.stop', 'an array of strings', req.stop);
  }
  if (req.seed !== undefined && !Number.isSafeInteger(req.seed)) throw invalid('request.seed', 'an integer', req.seed);
  if (req.tools !== undefined) validateTools(req.tools);
  if (req.extra !== undefined && !isFields(req.extra)) throw invalid('request.extra', 'an object', req.extra);
  return req as unknown as ChatRequest;
}

/** Throws ParleyError INVALID_REQUEST naming the option that is wrong; undefined means no options. */
export function validateCallOptions(opts: unknown): CallOptions {
  if (opts === undefined) return {};
  if (!isFields(opts)) throw invalid('options', 'an object', opts);
  const timeoutMs = opts.timeoutMs;
  if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS)) {
    throw invalid('options.timeoutMs', `a positive number of milliseconds up to ${MAX_TIMER_MS}`, timeoutMs);
  }
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid('options.signal', 'an AbortSignal', opts.signal);
  return opts as CallOptions;
}
