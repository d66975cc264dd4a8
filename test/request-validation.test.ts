import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateCallOptions, validateChatRequest } from '../src/host/request-validation.ts';
import { ParleyError } from '../src/shared/errors.ts';
import type { ChatRequest } from '../src/shared/types.ts';

const VALID: ChatRequest = {
  provider: ['a', 'b'],
  model: 'm',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] },
    { role: 'tool', content: '', toolCallId: 'c1', name: 'f' },
  ],
  temperature: 0,
  maxTokens: 1,
  topP: 1,
  stop: ['x'],
  seed: 3,
  tools: [{ name: 'get-weather_2', description: 'd', parameters: { type: 'object' } }, { name: 'f' }],
  extra: { think: true },
};

/** Asserts INVALID_REQUEST whose message names `field` and contains `detail`. */
function rejects(req: unknown, field: string, detail = ''): void {
  assert.throws(
    () => validateChatRequest(req),
    (err: unknown) => {
      assert.ok(err instanceof ParleyError);
      assert.equal(err.code, 'INVALID_REQUEST');
      assert.ok(err.message.startsWith(`${field} must be`), err.message);
      assert.ok(err.message.includes(detail), err.message);
      return true;
    },
  );
}

const withMessage = (message: unknown): unknown => ({ model: 'm', messages: [{ role: 'user', content: 'hi' }, message] });

describe('validateChatRequest()', () => {
  it('returns a plain-data copy of a valid request, equal to it and not the same object', () => {
    const copy = validateChatRequest(VALID);
    assert.deepEqual(copy, VALID);
    assert.notEqual(copy, VALID);
    const minimal = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    assert.deepEqual(validateChatRequest(minimal), minimal);
  });

  it('names the request, model and messages fields', () => {
    rejects(null, 'request', '(got null)');
    rejects([], 'request');
    // A request without a model passes the door: the provider's defaultModel
    // fills it in, or the runtime refuses it (test/door-requests.test.ts).
    rejects({ model: '', messages: VALID.messages }, 'request.model', '(got "")');
    rejects({ model: 'm', messages: [] }, 'request.messages', 'a non-empty array');
    rejects({ model: 'm', messages: 'hi' }, 'request.messages', '(got "hi")');
  });

  it('names the message, its role and its content', () => {
    rejects({ model: 'm', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }, { role: 'bot', content: 'c' }] }, 'request.messages[2].role', 'one of system, user, assistant, tool (got "bot")');
    rejects(withMessage('hello'), 'request.messages[1]', 'an object');
    rejects(withMessage({ role: 'user' }), 'request.messages[1].content', 'a string or an array of content parts (got undefined)');
    rejects(withMessage({ role: 'user', content: '' }), 'request.messages[1].content', 'a non-empty string');
    rejects(withMessage({ role: 'assistant', content: '' }), 'request.messages[1].content', 'a non-empty string');
    rejects(withMessage({ role: 'user', content: 'x', name: 5 }), 'request.messages[1].name', 'a string');
  });

  it('names tool call and tool message fields', () => {
    rejects(withMessage({ role: 'assistant', content: '', toolCalls: {} }), 'request.messages[1].toolCalls', 'an array');
    rejects(withMessage({ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'f' }] }), 'request.messages[1].toolCalls[0].arguments', 'a JSON string');
    rejects(withMessage({ role: 'assistant', content: '', toolCalls: [{ id: '', name: 'f', arguments: '{}' }] }), 'request.messages[1].toolCalls[0].id');
    rejects(withMessage({ role: 'user', content: 'x', toolCalls: [] }), 'request.messages[1].toolCalls', 'absent');
    rejects(withMessage({ role: 'tool', content: 'out' }), 'request.messages[1].toolCallId', 'a non-empty string');
  });

  it('names out-of-range sampling fields', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    rejects({ ...base, temperature: 2.5 }, 'request.temperature', 'from 0 to 2 (got 2.5)');
    rejects({ ...base, temperature: Number.NaN }, 'request.temperature');
    rejects({ ...base, temperature: '1' }, 'request.temperature', '(got "1")');
    rejects({ ...base, maxTokens: 0 }, 'request.maxTokens', 'a positive integer');
    rejects({ ...base, maxTokens: 1.5 }, 'request.maxTokens');
    rejects({ ...base, topP: -0.1 }, 'request.topP', 'from 0 to 1');
    rejects({ ...base, stop: 'END' }, 'request.stop', 'an array of strings');
    rejects({ ...base, stop: ['a', 1] }, 'request.stop');
    rejects({ ...base, seed: 1.5 }, 'request.seed', 'an integer');
    rejects({ ...base, extra: [] }, 'request.extra', 'an object');
  });

  it('names tool fields', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    rejects({ ...base, tools: {} }, 'request.tools', 'an array');
    rejects({ ...base, tools: [{ name: 'ok' }, { name: 'has space' }] }, 'request.tools[1].name', '(got "has space")');
    rejects({ ...base, tools: [{ name: 'x'.repeat(65) }] }, 'request.tools[0].name');
    rejects({ ...base, tools: [{ name: '' }] }, 'request.tools[0].name');
    rejects({ ...base, tools: [{ name: 'f', description: 1 }] }, 'request.tools[0].description', 'a string');
    rejects({ ...base, tools: [{ name: 'f', parameters: 'schema' }] }, 'request.tools[0].parameters', 'a JSON Schema object');
  });

  it('names the provider field', () => {
    const base = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
    rejects({ ...base, provider: '' }, 'request.provider', 'a non-empty string');
    rejects({ ...base, provider: [] }, 'request.provider', 'non-empty array');
    rejects({ ...base, provider: ['a', 3] }, 'request.provider[1]', 'a non-empty string (got 3)');
  });
});

describe('validateCallOptions()', () => {
  it('returns the same object for valid options, and {} for none', () => {
    const opts = { timeoutMs: 1000, signal: new AbortController().signal };
    assert.equal(validateCallOptions(opts), opts);
    assert.deepEqual(validateCallOptions(undefined), {});
    assert.deepEqual(validateCallOptions({ timeoutMs: 2 ** 31 - 1 }), { timeoutMs: 2 ** 31 - 1 });
  });

  it('names timeoutMs and signal when they are wrong', () => {
    for (const timeoutMs of [0, -1, Number.POSITIVE_INFINITY, Number.NaN, 2 ** 31, '100']) {
      assert.throws(() => validateCallOptions({ timeoutMs }), (err: unknown) => err instanceof ParleyError && err.code === 'INVALID_REQUEST' && err.message.startsWith('options.timeoutMs must be'));
    }
    assert.throws(() => validateCallOptions({ signal: {} }), (err: unknown) => err instanceof ParleyError && err.code === 'INVALID_REQUEST' && err.message.startsWith('options.signal must be an AbortSignal'));
    assert.throws(() => validateCallOptions(5), { code: 'INVALID_REQUEST' });
  });
});
