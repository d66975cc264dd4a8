/**
 * One stream() is one call, read once. The first iterator is the stream's
 * own; any later one fails its first next() with INVALID_REQUEST, since a
 * replay would have to keep every event and two loops sharing one call
 * would each get half of the tokens.
 */
import { ParleyError } from '../shared/errors.ts';
import type { StreamEvent } from '../shared/types.ts';

/** The stream's own iterator the first time; an INVALID_REQUEST for any later one (see Runtime.stream). */
export function iteratedOnce(stream: AsyncIterable<StreamEvent>): AsyncIterable<StreamEvent> {
  let taken = false;
  return {
    [Symbol.asyncIterator]: () => {
      if (!taken) {
        taken = true;
        return stream[Symbol.asyncIterator]();
      }
      const err = new ParleyError('INVALID_REQUEST', 'this stream was already iterated: one stream() is one call, read once; call stream() again for another reply');
      return failedStream(err)[Symbol.asyncIterator]();
    },
  };
}

/** A stream whose first next() rejects with `err`, then ends. */
export function failedStream(err: unknown): AsyncIterable<StreamEvent> {
  return {
    [Symbol.asyncIterator]: () => {
      let thrown = false;
      return {
        next: () => {
          if (thrown) return Promise.resolve({ value: undefined, done: true });
          thrown = true;
          return Promise.reject(err);
        },
      };
    },
  };
}
