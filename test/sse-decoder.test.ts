import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LineDecoder, SseDecoder, type SseEvent } from '../src/provider/protocols/sse-decoder.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function decodeChunks(chunks: Uint8Array[]): SseEvent[] {
  const decoder = new SseDecoder();
  const events: SseEvent[] = [];
  for (const chunk of chunks) events.push(...decoder.push(chunk));
  events.push(...decoder.end());
  return events;
}

/** Every way of cutting `data` in two, plus one byte at a time. */
function* splits(data: Uint8Array): Generator<Uint8Array[]> {
  for (let i = 0; i <= data.length; i++) yield [data.subarray(0, i), data.subarray(i)];
  yield Array.from(data, (_, i) => data.subarray(i, i + 1));
}

const SAMPLE = [
  ': OPENROUTER PROCESSING',
  '',
  'data: {"t":"héllo 🌍 日本"}',
  '',
  'event: delta',
  'id: 7',
  'data:first',
  'data:  second',
  'data',
  '',
  ': keep-alive',
  'data: [DONE]',
  '',
  '',
].join('\n');

const SAMPLE_EVENTS: SseEvent[] = [
  { event: 'message', data: '{"t":"héllo 🌍 日本"}' },
  { event: 'delta', data: 'first\n second\n', id: '7' },
  { event: 'message', data: '[DONE]', id: '7' },
];

describe('SseDecoder', () => {
  it('push() decodes the same events wherever the bytes are split', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const data = bytes(SAMPLE.replaceAll('\n', eol));
      for (const chunks of splits(data)) {
        assert.deepEqual(decodeChunks(chunks), SAMPLE_EVENTS, `eol ${JSON.stringify(eol)}, ${chunks.length} chunks`);
      }
    }
  });

  it('push() treats a CR ending one chunk and an LF opening the next as one line end', () => {
    const events = decodeChunks([bytes('data: a\r'), bytes('\ndata: b\r'), bytes('\n\r'), bytes('\n')]);
    assert.deepEqual(events, [{ event: 'message', data: 'a\nb' }]);
  });

  it('push() takes a lone CR as a line end even when the next chunk is empty or incomplete UTF-8', () => {
    const euro = bytes('€');
    const decoder = new SseDecoder();
    assert.deepEqual(decoder.push(bytes('data: x\r')), []);
    assert.deepEqual(decoder.push(new Uint8Array(0)), []);
    assert.deepEqual(decoder.push(bytes('data: ')), []);
    assert.deepEqual(decoder.push(euro.subarray(0, 1)), []);
    assert.deepEqual(decoder.push(euro.subarray(1)), []);
    assert.deepEqual(decoder.push(bytes('\n\n')), [{ event: 'message', data: 'x\n€' }]);
  });

  it('push() accepts mixed line ends in one stream', () => {
    assert.deepEqual(decodeChunks([bytes('data: a\r\ndata: b\rdata: c\n\r\n')]), [{ event: 'message', data: 'a\nb\nc' }]);
  });

  it('push() strips one leading space only, and a field without colon has an empty value', () => {
    assert.deepEqual(decodeChunks([bytes('data:   x\n\ndata\n\ndata:\n\n')]), [
      { event: 'message', data: '  x' },
      { event: 'message', data: '' },
      { event: 'message', data: '' },
    ]);
  });

  it('push() ignores comments, retry and unknown fields, and events without data', () => {
    const events = decodeChunks([bytes(': comment\nretry: 10\nfoo: bar\n\nevent: ping\n\ndata: x\n\n')]);
    assert.deepEqual(events, [{ event: 'message', data: 'x' }]);
  });

  it('push() resets the event name after each dispatch, keeps the last id', () => {
    const events = decodeChunks([bytes('event: a\nid: 1\ndata: x\n\ndata: y\n\nid\ndata: z\n\n')]);
    assert.deepEqual(events, [
      { event: 'a', data: 'x', id: '1' },
      { event: 'message', data: 'y', id: '1' },
      { event: 'message', data: 'z' },
    ]);
  });

  it('push() ignores an id containing NUL', () => {
    assert.deepEqual(decodeChunks([bytes('id: a\0b\ndata: x\n\n')]), [{ event: 'message', data: 'x' }]);
  });

  it('push() strips a BOM at the start of the stream, even split across chunks', () => {
    const data = bytes('\uFEFFdata: x\n\n');
    for (const chunks of splits(data)) assert.deepEqual(decodeChunks(chunks), [{ event: 'message', data: 'x' }]);
  });

  it('push() keeps a BOM that is not at the start of the stream', () => {
    assert.deepEqual(decodeChunks([bytes('data: x\n\n\uFEFFdata: y\n\n')]), [{ event: 'message', data: 'x' }]);
  });

  it('end() drops a last line cut before its line end', () => {
    assert.deepEqual(decodeChunks([bytes('data: x\n\ndata: cut')]), [{ event: 'message', data: 'x' }]);
  });

  it('end() dispatches a last event whose lines all ended but whose blank line never came (servers close right after data: [DONE]\\n)', () => {
    assert.deepEqual(decodeChunks([bytes('data: x\n\ndata: y\n')]), [
      { event: 'message', data: 'x' },
      { event: 'message', data: 'y' },
    ]);
  });

  it('push() keeps a non-standard error: field (older llama.cpp) on the event it belongs to', () => {
    assert.deepEqual(decodeChunks([bytes('error: {"message":"context"}\n\ndata: [DONE]\n\n')]), [
      { event: 'message', data: '', error: '{"message":"context"}' },
      { event: 'message', data: '[DONE]' },
    ]);
  });

  it('push() decodes a long line that arrives in many chunks', () => {
    const long = 'x'.repeat(100_000);
    const data = bytes(`data: ${long}\n\n`);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += 997) chunks.push(data.subarray(i, i + 997));
    assert.deepEqual(decodeChunks(chunks), [{ event: 'message', data: long }]);
  });
});

describe('LineDecoder', () => {
  it('end() returns a last line without line end', () => {
    const lines = new LineDecoder();
    assert.deepEqual(lines.push(bytes('a\r\nb')), ['a']);
    assert.deepEqual(lines.end(), ['b']);
  });

  it('end() turns an incomplete UTF-8 sequence into U+FFFD rather than losing the line', () => {
    const lines = new LineDecoder();
    assert.deepEqual(lines.push(bytes('🌍').subarray(0, 2)), []);
    assert.deepEqual(lines.end(), ['\uFFFD']);
  });
});
