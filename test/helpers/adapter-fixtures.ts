/**
 * What the three adapter suites share: driving a stream parser with bytes,
 * and checking that where TCP splits those bytes changes nothing.
 */
import assert from 'node:assert/strict';
import type { Adapter } from '../../src/provider/protocols/adapter.ts';
import type { ChatRequest, ChatResult, StreamEvent } from '../../src/shared/types.ts';

const encoder = new TextEncoder();

export const bytes = (text: string): Uint8Array => encoder.encode(text);

export interface StreamRun {
  events: StreamEvent[];
  result: ChatResult;
  /** The parser's `done` after the last push, before finish(). */
  done: boolean;
}

/** Pushes the chunks through a fresh parser of `adapter`, then finishes it. */
export function runStream(adapter: Adapter, req: ChatRequest, chunks: Uint8Array[]): StreamRun {
  const parser = adapter.streamParser(req);
  const events: StreamEvent[] = [];
  for (const chunk of chunks) events.push(...parser.push(chunk));
  return { events, done: parser.done, result: parser.finish() };
}

/**
 * Whole, `body` yields `events` and `expected`; split in two at every byte,
 * it yields the same result, with text events that join to its content.
 */
export function assertSplitAnywhere(
  adapter: Adapter,
  req: ChatRequest,
  body: Uint8Array,
  expected: ChatResult,
  events: StreamEvent[],
): void {
  const whole = runStream(adapter, req, [body]);
  assert.deepEqual(whole.result, expected);
  assert.equal(whole.done, true);
  assert.deepEqual(whole.events, events);
  for (let i = 0; i <= body.length; i++) {
    const split = runStream(adapter, req, [body.subarray(0, i), body.subarray(i)]);
    assert.deepEqual(split.result, expected, `split at ${i}`);
    const text = split.events.flatMap((e) => (e.type === 'text' ? [e.text] : [])).join('');
    assert.equal(text, split.result.content, `split at ${i}`);
  }
}
