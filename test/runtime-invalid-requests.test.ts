/**
 * Requests the runtime refuses before any I/O: INVALID_REQUEST from chat(),
 * stream(), models() and health(), always as a rejected promise or a failed
 * iteration, and the server never sees them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ParleyError, type ChatRequest, type Runtime } from '../src/index.ts';
import type { ModelServer } from '../src/testing/index.ts';
import { ask, assertCode, rejectsWith, startStack, streamFailure, type Stack } from './helpers/fixtures.ts';

describe('requests refused before any I/O', () => {
  let stack: Stack;
  let server: ModelServer;
  let rt: Runtime;
  before(async () => {
    stack = await startStack({}, () => ({ maxRetries: 0 }));
    ({ server, rt } = stack);
  });
  after(() => stack.close());

  const invalid: [string, ChatRequest][] = [
    ['no model', { messages: [{ role: 'user', content: 'a' }] } as unknown as ChatRequest],
    ['empty messages', { model: 'parley-echo', messages: [] }],
    ['a bad role', { model: 'parley-echo', messages: [{ role: 'wizard', content: 'a' }] } as unknown as ChatRequest],
    ['an unknown provider', ask('a', { provider: 'nope' })],
    // Passes validation; the structured clone to the worker refuses it, and only this call fails.
    ['an extra field holding a function', { ...ask('a'), extra: { hook: () => 1 } } as unknown as ChatRequest],
  ];
  for (const [what, request] of invalid) {
    test(`chat() and stream() refuse ${what} with INVALID_REQUEST before any I/O`, async () => {
      const served = server.stats().requestsServed;
      // new Promise(...) so that a synchronous throw is caught too: that has its own test below.
      await rejectsWith(new Promise((resolve, reject) => rt.chat(request).then(resolve, reject)), 'INVALID_REQUEST');
      assertCode((await streamFailure(() => rt.stream(request))).error, 'INVALID_REQUEST');
      assert.equal(server.stats().requestsServed, served);
    });
  }

  test('chat() with an unknown provider returns a rejected promise instead of throwing synchronously', async () => {
    let returned: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      returned = rt.chat(ask('a', { provider: 'nope' }));
    });
    await rejectsWith(returned!, 'INVALID_REQUEST');
  });

  test('models() and health() of an unknown provider reject with INVALID_REQUEST', async () => {
    await rejectsWith(rt.models('nope'), 'INVALID_REQUEST');
    await rejectsWith(rt.health('nope'), 'INVALID_REQUEST');
  });

  test('a bad call option (timeoutMs) is refused with a code naming it, before any I/O', async () => {
    const served = server.stats().requestsServed;
    await assert.rejects(rt.chat(ask('a'), { timeoutMs: -5 }), (err: unknown) => {
      assert.ok(err instanceof ParleyError);
      assert.ok(['INVALID_REQUEST', 'CONFIG'].includes(err.code), err.code);
      assert.ok(err.message.includes('timeoutMs'), err.message);
      return true;
    });
    assert.equal(server.stats().requestsServed, served);
  });
});
