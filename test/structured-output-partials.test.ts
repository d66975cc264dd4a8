/**
 * Partial objects cost the host thread little: a long JSON reply streamed in
 * small fragments is re-parsed only as it grows by a share of itself, not
 * on every fragment (which is quadratic: seconds for 25 KB), and the last
 * object is always the validated one in `done`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StructuredOutput } from '../src/host/structured-output.ts';
import type { ChatInput, StreamEvent } from '../src/index.ts';

async function* fragments(text: string, size: number): AsyncGenerator<StreamEvent> {
  for (let i = 0; i < text.length; i += size) yield { type: 'text', text: text.slice(i, i + size) };
  yield { type: 'done', result: { content: text, finishReason: 'stop', model: 'm', provider: 'p' } };
}

test('StructuredOutput.stream() parses a 25 KB reply in 6-byte fragments about a hundred times, not four thousand', async () => {
  const value = { items: Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item number ${i}`, tags: ['a', 'b'] })) };
  const text = JSON.stringify(value);
  const request = { messages: [], responseFormat: { type: 'json' } } as unknown as ChatInput;
  const { output } = await StructuredOutput.prepare(request, { p: { kind: 'openai', baseUrl: 'http://127.0.0.1:1/v1' } });
  assert.ok(output);
  let objects = 0;
  let texts = 0;
  let last: StreamEvent | undefined;
  for await (const event of output.stream(fragments(text, 6))) {
    if (event.type === 'object') objects++;
    if (event.type === 'text') texts++;
    last = event;
  }
  assert.equal(texts, Math.ceil(text.length / 6), 'every text event still goes through');
  assert.ok(objects > 10 && objects < 200, `partial objects as the JSON grew (got ${objects})`);
  assert.equal(last?.type, 'done');
  assert.deepEqual(last.type === 'done' && last.result.object, value);
});
