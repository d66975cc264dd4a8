import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, isRetryableStatus, parseRetryAfter } from '../src/provider/http/retry-after.ts';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('parseRetryAfter()', () => {
  it('reads Retry-After as seconds, decimals included', () => {
    assert.equal(parseRetryAfter({ 'retry-after': '2' }, NOW), 2000);
    assert.equal(parseRetryAfter({ 'retry-after': '0.5' }, NOW), 500);
    assert.equal(parseRetryAfter({ 'retry-after': ' 3 ' }, NOW), 3000);
    assert.equal(parseRetryAfter({ 'retry-after': '0' }, NOW), 0);
  });

  it('reads Retry-After as an HTTP date, relative to now', () => {
    assert.equal(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:30 GMT' }, NOW), 30_000);
    assert.equal(parseRetryAfter({ 'retry-after': 'Wednesday, 01-Jan-25 00:00:10 GMT' }, NOW), 10_000);
    assert.equal(parseRetryAfter({ 'retry-after': 'Wed Jan  1 00:00:05 2025' }, NOW), 5_000);
  });

  it('prefers retry-after-ms, a float in milliseconds', () => {
    assert.equal(parseRetryAfter({ 'retry-after-ms': '1500.5', 'retry-after': '9' }, NOW), 1501);
    assert.equal(parseRetryAfter({ 'retry-after-ms': 'soon', 'retry-after': '9' }, NOW), 9000);
  });

  it('gives 0 for negative values and dates in the past', () => {
    assert.equal(parseRetryAfter({ 'retry-after': '-5' }, NOW), 0);
    assert.equal(parseRetryAfter({ 'retry-after-ms': '-1' }, NOW), 0);
    assert.equal(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:59:00 GMT' }, NOW), 0);
  });

  it('gives undefined when absent or garbage', () => {
    assert.equal(parseRetryAfter({}, NOW), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': '' }, NOW), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': 'soon' }, NOW), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': '1e3' }, NOW), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': 'Foo 2025' }, NOW), undefined);
    assert.equal(parseRetryAfter({ 'retry-after': 'Wed, 99 Foo 2025 99:99:99 GMT' }, NOW), undefined);
  });

  it('accepts array values and header names in any case', () => {
    assert.equal(parseRetryAfter({ 'retry-after': ['4', '8'] }, NOW), 4000);
    assert.equal(parseRetryAfter({ 'Retry-After': '1' }, NOW), 1000);
    assert.equal(parseRetryAfter({ 'Retry-After-Ms': '20' }, NOW), 20);
  });
});

describe('backoffDelay()', () => {
  it('grows exponentially from baseMs and stops at maxMs', () => {
    const top = () => 0.999999;
    const delays = [0, 1, 2, 3, 4, 5, 6, 10, 100, 5000].map((attempt) => backoffDelay(attempt, { random: top }));
    assert.deepEqual(delays, [249, 499, 999, 1999, 3999, 7999, 7999, 7999, 7999, 7999]);
    assert.equal(backoffDelay(3, { baseMs: 100, maxMs: 500, random: top }), 499);
  });

  it('draws uniformly below the cap (full jitter)', () => {
    assert.equal(backoffDelay(2, { random: () => 0 }), 0);
    assert.equal(backoffDelay(2, { random: () => 0.5 }), 500);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(3);
      assert.ok(delay >= 0 && delay < 2000, String(delay));
    }
  });

  it('treats a negative or non-finite attempt as the first', () => {
    assert.equal(backoffDelay(-1, { random: () => 0.5 }), 125);
    assert.equal(backoffDelay(Number.NaN, { random: () => 0.5 }), 125);
  });
});

describe('isRetryableStatus()', () => {
  it('is true for 408, 409, 429 and 5xx (Anthropic 529 included), false otherwise', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 504, 529, 599]) assert.equal(isRetryableStatus(status), true, String(status));
    for (const status of [200, 301, 400, 401, 403, 404, 413, 422, 600]) assert.equal(isRetryableStatus(status), false, String(status));
  });
});
