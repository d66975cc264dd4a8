import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NdjsonDecoder } from '../src/provider/protocols/ndjson-decoder.ts';
import { ParleyError } from '../src/shared/errors.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function decodeChunks(chunks: Uint8Array[]): unknown[] {
  const decoder = new NdjsonDecoder({ provider: 'local' });
  const values: unknown[] = [];
  for (const chunk of chunks) values.push(...decoder.push(chunk));
  values.push(...decoder.end());
  return values;
}

const VALUES = [{ t: 'héllo 🌍 日本' }, { n: 1, done: false }, [1, 2], 'end'];

describe('NdjsonDecoder', () => {
  it('push() decodes the same values wherever the bytes are split, with LF or CRLF', () => {
    for (const eol of ['\n', '\r\n']) {
      const data = bytes(VALUES.map((v) => JSON.stringify(v)).join(eol) + eol);
      for (let i = 0; i <= data.length; i++) {
        assert.deepEqual(decodeChunks([data.subarray(0, i), data.subarray(i)]), VALUES, `split at ${i}`);
      }
      assert.deepEqual(decodeChunks(Array.from(data, (_, i) => data.subarray(i, i + 1))), VALUES);
    }
  });

  it('push() returns values as soon as their line is complete', () => {
    const decoder = new NdjsonDecoder();
    assert.deepEqual(decoder.push(bytes('{"a":1}\n{"b"')), [{ a: 1 }]);
    assert.deepEqual(decoder.push(bytes(':2}\n')), [{ b: 2 }]);
    assert.deepEqual(decoder.end(), []);
  });

  it('push() skips blank and whitespace-only lines', () => {
    assert.deepEqual(decodeChunks([bytes('\n\n{"a":1}\n  \r\n\n{"b":2}\n\n')]), [{ a: 1 }, { b: 2 }]);
  });

  it('end() parses a last line without newline', () => {
    assert.deepEqual(decodeChunks([bytes('{"a":1}\n{"b":'), bytes('2}')]), [{ a: 1 }, { b: 2 }]);
  });

  it('push() throws BAD_RESPONSE for a line that is not JSON, with a short excerpt', () => {
    const decoder = new NdjsonDecoder({ provider: 'local' });
    const bad = `{"a": ${'x'.repeat(500)}`;
    assert.throws(
      () => decoder.push(bytes(`{"ok":true}\n${bad}\n`)),
      (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'BAD_RESPONSE');
        assert.equal(err.provider, 'local');
        assert.ok(err.message.includes('{\\"a\\": xxx'), err.message);
        assert.ok(err.message.length < 200, `message too long: ${err.message.length}`);
        return true;
      },
    );
  });

  it('push() stops parsing at the end marker, so trailing bytes are not an error', () => {
    const decoder = new NdjsonDecoder({ isEnd: (v) => (v as { done?: boolean }).done === true });
    assert.deepEqual(decoder.push(bytes('{"n":1}\n{"done":true}\nnot json\n')), [{ n: 1 }, { done: true }]);
    assert.deepEqual(decoder.push(bytes('more garbage\n')), []);
    assert.deepEqual(decoder.end(), []);
  });

  it('end() throws BAD_RESPONSE for a truncated last line', () => {
    const decoder = new NdjsonDecoder();
    decoder.push(bytes('{"a":1}\n{"b":'));
    assert.throws(() => decoder.end(), { code: 'BAD_RESPONSE' });
  });
});
