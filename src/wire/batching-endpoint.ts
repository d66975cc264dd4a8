/**
 * The transport under Comlink between the host thread and the provider
 * worker. A postMessage pays a fixed price: a serializer set-up, a lock,
 * a JS entry with its own microtask checkpoint on the receiving side and,
 * when that thread sleeps, a wake-up (on a VM, an interrupt to a halted
 * vCPU). Under load that fixed price is most of what crossing costs, so
 * messages posted in the same event-loop turn travel together: the first at
 * once, so a lone call waits for nothing, and the ones that follow it in one
 * postMessage from setImmediate. The other side unpacks them in order.
 * Comlink's messages and semantics are unchanged.
 */
import type { Endpoint } from 'comlink';
import { transferHandlers } from 'comlink/dist/esm/comlink.mjs';
import type { Transferable } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';

/** What both a Worker (host side) and a MessagePort (worker side) offer. */
export interface NodeMessageTarget {
  postMessage(value: unknown, transferList?: readonly Transferable[]): void;
  on(event: 'message', listener: (value: unknown) => void): unknown;
}

type Listener = Parameters<Endpoint['addEventListener']>[1];

interface Outgoing {
  message: unknown;
  transfer: readonly Transferable[];
}

/** Comlink's request types; every other message with an id is a reply. */
const REQUEST_TYPES: ReadonlySet<unknown> = new Set(['GET', 'SET', 'APPLY', 'CONSTRUCT', 'ENDPOINT', 'RELEASE']);

export interface BatchingEndpoint extends Endpoint {
  /** Sends what is queued now, before a port closes. */
  flush(): void;
}

export function batchingEndpoint(target: NodeMessageTarget): BatchingEndpoint {
  const listeners = new Set<Listener>();
  let queue: Outgoing[] = [];
  let windowOpen = false;

  const deliver = (data: unknown): void => {
    const event = { data } as MessageEvent;
    for (const listener of listeners) {
      try {
        if (typeof listener === 'function') listener(event);
        else listener.handleEvent(event);
      } catch (err) {
        // One throwing listener must not drop the rest of the batch; the
        // error still surfaces as it would have from a 'message' handler.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  };

  const onMessage = (value: unknown): void => {
    if (!Array.isArray(value)) return deliver(value);
    for (const data of value) deliver(data);
  };

  /**
   * A message the structured clone refuses must fail its own call, at once,
   * as Comlink would have had postMessage thrown: a request is answered
   * here with the error, a reply is replaced by the error sent over.
   */
  const unsendable = (message: unknown, err: unknown): void => {
    const { id, type } = (message ?? {}) as { id?: unknown; type?: unknown };
    // Comlink's own ids are strings, ComlinkCaller's are numbers.
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const isRequest = REQUEST_TYPES.has(type);
    const reason = (err as Error)?.message ?? String(err);
    const error = isRequest
      ? new ParleyError('INVALID_REQUEST', `the request could not be sent to the provider worker: ${reason}`)
      : new ParleyError('BAD_RESPONSE', `the provider worker's reply could not be sent: ${reason}`);
    const [value] = transferHandlers.get('throw')!.serialize({ value: error });
    const reply = { id, type: 'HANDLER', name: 'throw', value };
    if (isRequest) queueMicrotask(() => deliver(reply));
    else target.postMessage([reply]);
  };

  const send = (batch: Outgoing[]): void => {
    const transfer = batch.length === 1 ? batch[0]!.transfer : batch.flatMap((o) => o.transfer);
    try {
      target.postMessage(
        batch.map((o) => o.message),
        transfer,
      );
    } catch (err) {
      if (batch.length === 1) return unsendable(batch[0]!.message, err);
      // Only the bad message should fail: send them one by one.
      for (const one of batch) send([one]);
    }
  };

  const flush = (): void => {
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    send(batch);
  };

  const closeWindow = (): void => {
    windowOpen = false;
    flush();
  };

  target.on('message', onMessage);

  return {
    postMessage(message: unknown, transfer: readonly Transferable[] = []): void {
      if (windowOpen) {
        queue.push({ message, transfer });
        return;
      }
      windowOpen = true;
      setImmediate(closeWindow);
      send([{ message, transfer }]);
    },
    addEventListener(_type: string, listener: Listener): void {
      listeners.add(listener);
    },
    removeEventListener(_type: string, listener: Listener): void {
      listeners.delete(listener);
    },
    flush,
  } as BatchingEndpoint;
}
