/**
 * Comlink's built-in "throw" handler keeps only name, message and stack, so
 * `code` and the class would be lost. This wraps it: a ParleyError crosses as
 * a WireError and is rebuilt as a ParleyError on the other side; anything
 * else keeps Comlink's behaviour. Both threads install it before any call.
 */
import type { TransferHandler } from 'comlink';
import { transferHandlers } from 'comlink/dist/esm/comlink.mjs';
import { ParleyError } from '../shared/errors.ts';
import { fromWireError, toWireError, type WireError } from '../shared/error-wire.ts';

interface ThrownValue {
  value: unknown;
}
type Serialized = { parley: WireError } | { other: unknown };

let installed = false;

export function installErrorTransfer(): void {
  if (installed) return;
  const original = transferHandlers.get('throw') as TransferHandler<ThrownValue, unknown> | undefined;
  if (!original) throw new Error('comlink has no "throw" transfer handler to extend');
  const handler: TransferHandler<ThrownValue, Serialized> = {
    canHandle: (value): value is ThrownValue => original.canHandle(value),
    serialize(thrown) {
      if (thrown.value instanceof ParleyError) return [{ parley: toWireError(thrown.value) }, []];
      const [other, transfers] = original.serialize(thrown);
      return [{ other }, transfers];
    },
    deserialize(serialized) {
      if ('parley' in serialized) throw fromWireError(serialized.parley);
      return original.deserialize(serialized.other) as ThrownValue;
    },
  };
  transferHandlers.set('throw', handler as TransferHandler<unknown, unknown>);
  installed = true;
}
