import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CallSignal } from '../src/provider/call-signal.ts';

describe('CallSignal', () => {
  it('abort() sets aborted and reason and runs each listener once, in order', () => {
    const signal = new CallSignal();
    const seen: string[] = [];
    signal.addEventListener('abort', () => seen.push('a'));
    signal.addEventListener('abort', () => seen.push('b'));
    signal.abort('why');
    signal.abort('again');
    assert.equal(signal.aborted, true);
    assert.equal(signal.reason, 'why');
    assert.deepEqual(seen, ['a', 'b']);
  });

  it('a removed listener is not run', () => {
    const signal = new CallSignal();
    let calls = 0;
    const listener = () => calls++;
    signal.addEventListener('abort', listener);
    signal.removeEventListener('abort', listener);
    signal.abort(new Error('x'));
    assert.equal(calls, 0);
  });
});
