/**
 * Conversations carry the request controls: set in the init for every turn,
 * and per turn in the turn's options (the turn's value wins). A structured
 * turn returns its object and records the JSON text; a turn with a bad
 * control fails with INVALID_REQUEST and records nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { CHAT_PATHS, collect, rejectsWith, startStack, type Stack } from './helpers/fixtures.ts';

describe('conversation request controls', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const lastBody = (path: string) => stack.server.requests.filter((r) => r.path === path).at(-1)!.body as Record<string, unknown>;

  test('responseFormat per turn: send() and stream() return the validated object; the next turn is plain text again', async () => {
    const conv = await stack.rt.conversation({ provider: 'openai', model: 'parley-echo', extra: { user: 'host-1' } });
    const answer = z.object({ answer: z.string() });
    const first = await conv.send('Name a city', { responseFormat: { type: 'json-schema', schema: answer }, timeoutMs: 10_000 });
    assert.deepEqual(first.object, { answer: 'Name a city' });
    assert.equal(lastBody(CHAT_PATHS.openai).user, 'host-1', "the init's extra goes with every turn");
    const { events, error } = await collect(conv.stream('Another', { responseFormat: { type: 'json' } }));
    assert.equal(error, undefined);
    assert.ok(events.some((e) => e.type === 'object'));
    const plain = await conv.send('Thanks');
    assert.equal(plain.object, undefined);
    assert.equal('response_format' in lastBody(CHAT_PATHS.openai), false, 'a turn control lasts one turn');
    assert.equal(conv.messages.length, 6);
    assert.deepEqual(JSON.parse(conv.messages[1]!.content as string), { answer: 'Name a city' });
  });

  test('a structured turn whose reply does not parse fails with INVALID_OUTPUT and records nothing, in send and stream', async () => {
    const conv = await stack.rt.conversation({ provider: 'ollama', model: 'parley-echo', responseFormat: { type: 'json' } });
    stack.server.setOptions({ invalidJson: true });
    try {
      await rejectsWith(conv.send('One'), 'INVALID_OUTPUT');
      const { error } = await collect(conv.stream('Two'));
      assert.equal((error as { code?: string }).code, 'INVALID_OUTPUT');
      assert.equal(conv.messages.length, 0);
    } finally {
      stack.server.setOptions({ invalidJson: false });
    }
    const ok = await conv.send('Three');
    assert.deepEqual(ok.object, { answer: 'Three' });
    assert.equal(conv.messages.length, 2);
  });

  test("init controls apply to every turn; a turn's own value replaces them", async () => {
    const conv = await stack.rt.conversation({ provider: 'anthropic', model: 'parley-echo', reasoning: { effort: 'low' } });
    const thought = await conv.send('Think');
    assert.ok(thought.reasoning);
    assert.deepEqual(lastBody(CHAT_PATHS.anthropic).thinking, { type: 'enabled', budget_tokens: 1024 });
    await conv.send('Quick', { reasoning: { enabled: false } });
    assert.deepEqual(lastBody(CHAT_PATHS.anthropic).thinking, { type: 'disabled' });
  });

  test('a turn with a control its provider cannot express fails with INVALID_REQUEST and records nothing', async () => {
    const conv = await stack.rt.conversation({ provider: 'ollama', model: 'parley-echo', tools: [{ name: 'get_time' }] });
    await rejectsWith(conv.send('Hi', { toolChoice: 'required' }), 'INVALID_REQUEST');
    assert.equal(conv.messages.length, 0);
    await rejectsWith(conv.send('Hi', { timeoutMs: -1 }), 'INVALID_REQUEST');
    const ok = await conv.send('Hi', { toolChoice: 'none' });
    assert.equal(ok.toolCalls, undefined);
    assert.equal(conv.messages.length, 2);
  });
});
