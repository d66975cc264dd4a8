import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { estimateMessageTokens, estimateTokens, trimToWindow, updateCalibration } from '../src/conversation/context-window.ts';
import type { Message } from '../src/shared/types.ts';

const system: Message = { role: 'system', content: 'You are terse.' };
const user = (n: number, size = 400): Message => ({ role: 'user', content: `u${n} ${'x'.repeat(size)}` });
const assistant = (n: number, size = 400): Message => ({ role: 'assistant', content: `a${n} ${'y'.repeat(size)}` });
const contents = (messages: Message[]) => messages.map((m) => (m.content as string).split(' ')[0]);

describe('estimateMessageTokens', () => {
  test('counts about chars/4 plus a per-message overhead', () => {
    const small = estimateMessageTokens({ role: 'user', content: '' });
    const big = estimateMessageTokens({ role: 'user', content: 'x'.repeat(400) });
    assert.ok(small > 0);
    assert.equal(big - small, 100);
  });

  test('counts tool call arguments', () => {
    const bare = estimateMessageTokens({ role: 'assistant', content: '' });
    const withCall = estimateMessageTokens({
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'c1', name: 'search', arguments: JSON.stringify({ q: 'z'.repeat(400) }) }],
    });
    assert.ok(withCall - bare > 100);
  });
});

describe('trimToWindow', () => {
  const history = [system, user(1), assistant(1), user(2), assistant(2), user(3), assistant(3), user(4)];

  test('keeps everything when it fits', () => {
    const out = trimToWindow(history, { maxTokens: 100_000 });
    assert.deepEqual(out.messages, history);
    assert.equal(out.dropped, 0);
    assert.equal(out.fits, true);
  });

  test('drops the oldest exchanges first, keeping system and the newest user message', () => {
    const perExchange = estimateTokens([user(1), assistant(1)]);
    const budget = estimateTokens([system, user(4)]) + 2 * perExchange;
    const out = trimToWindow(history, { maxTokens: budget });
    assert.deepEqual(contents(out.messages), ['You', 'u2', 'a2', 'u3', 'a3', 'u4']);
    assert.equal(out.dropped, 2);
    assert.equal(out.fits, true);
    assert.ok(out.estimatedTokens <= budget);
  });

  test('always keeps system and the newest user message, even over budget', () => {
    const out = trimToWindow(history, { maxTokens: 1 });
    assert.deepEqual(contents(out.messages), ['You', 'u4']);
    assert.equal(out.fits, false);
  });

  test('never leaves an assistant message first after the system message', () => {
    for (let budget = 1; budget < estimateTokens(history) + 10; budget += 7) {
      const out = trimToWindow(history, { maxTokens: budget });
      assert.equal(out.messages[0]!.role, 'system');
      assert.equal(out.messages[1]!.role, 'user', `budget ${budget}`);
    }
  });

  test('works without a system message', () => {
    const out = trimToWindow(history.slice(1), { maxTokens: 1 });
    assert.deepEqual(contents(out.messages), ['u4']);
  });

  test('keeps a tool call with its results, and keeps the newest exchange whole', () => {
    const call: Message = {
      role: 'assistant',
      content: '',
      toolCalls: [{ id: 'c1', name: 'lookup', arguments: '{"q":"' + 'q'.repeat(200) + '"}' }],
    };
    const result: Message = { role: 'tool', content: 'r1 ' + 'r'.repeat(400), toolCallId: 'c1', name: 'lookup' };
    const messages = [system, user(1), call, result, assistant(1), user(2), assistant(2), user(3), call, result];
    for (let budget = 1; budget < estimateTokens(messages) + 10; budget += 5) {
      const out = trimToWindow(messages, { maxTokens: budget });
      const kept = out.messages;
      for (const [i, m] of kept.entries()) {
        if (m.role !== 'tool') continue;
        const answered = kept.slice(0, i).some((prev) => prev.toolCalls?.some((c) => c.id === m.toolCallId));
        assert.ok(answered, `budget ${budget}: tool result kept without its call`);
      }
      // The newest exchange (u3 + its tool round trip) is never cut.
      assert.deepEqual(kept.slice(-3), [user(3), call, result]);
    }
  });

  test('a tool result answering a call from an earlier exchange keeps both exchanges together', () => {
    const call: Message = { role: 'assistant', content: 'c', toolCalls: [{ id: 'late', name: 't', arguments: '{}' }] };
    const lateResult: Message = { role: 'tool', content: 'r', toolCallId: 'late' };
    const messages = [system, user(1), call, user(2), lateResult, assistant(2), user(3)];
    const budget = estimateTokens([system, user(3)]) + 10;
    for (let b = budget; b < estimateTokens(messages) + 10; b += 3) {
      const kept = trimToWindow(messages, { maxTokens: b }).messages;
      if (kept.includes(lateResult)) assert.ok(kept.includes(call), `budget ${b}`);
    }
  });

  test('applies the calibration ratio to the estimate', () => {
    const raw = estimateTokens(history);
    assert.equal(trimToWindow(history, { maxTokens: raw }).dropped, 0);
    const calibrated = trimToWindow(history, { maxTokens: raw, calibration: 1.5 });
    assert.ok(calibrated.dropped > 0);
    assert.ok(calibrated.estimatedTokens <= raw);
    assert.ok(trimToWindow(history, { maxTokens: raw, fixedTokens: 50 }).dropped > 0);
  });
});

describe('updateCalibration', () => {
  test('takes the first report as it is, then smooths', () => {
    const first = updateCalibration(undefined, 100, 150);
    assert.equal(first, 1.5);
    const second = updateCalibration(first, 100, 100)!;
    assert.ok(second < 1.5 && second > 1, `smoothed toward 1, got ${second}`);
  });

  test('ignores reports that cannot be right', () => {
    assert.equal(updateCalibration(undefined, 100, undefined), undefined);
    assert.equal(updateCalibration(1.2, 100, 0), 1.2);
    assert.equal(updateCalibration(1.2, 0, 50), 1.2);
    assert.equal(updateCalibration(1.2, 100, Number.NaN), 1.2);
  });

  test('clamps absurd ratios', () => {
    assert.equal(updateCalibration(undefined, 1, 1_000_000), 10);
  });
});
