/**
 * What carries Comlink's messages between the host thread and the provider
 * worker. A postMessage pays a fixed price: a serializer set-up, a lock,
 * a JS entry with its own microtask checkpoint on the receiving side and,
 * when that thread sleeps, a wake-up (on a VM, an interrupt to a halted
 * vCPU). Under load that fixed price is most of what crossing costs, so
 * messages posted in the same event-loop turn travel together: the first at
 * once, so a lone call waits for nothing, and the ones that follow it in one
 * postMessage from setImmediate. The other side unpacks them in order.
 * Comlink's messages and semantics are unchanged.
 *
 * A burst is spread out on both sides, so that neither thread stops
 * answering its heartbeat: a batch holds at most MAX_BATCH_MESSAGES (fewer
 * while batches take more than a slice to serialize, since the other side
 * takes as long to deserialize one, and cannot split it), the sender sends
 * for one slice per macrotask, and the receiver delivers through a
 * TimeSlicer (time-slicer.ts). And the sender keeps no more than
 * MAX_UNACKED batches of a backlog ahead of the receiver: Node deserializes
 * every message queued on a port in one callback, so 26 batches sent while
 * a worker was busy (100 MB of a 1,000-call burst) blocked it for 0.27 s.
 * Only batches sent while a backlog waits ask for an ack, so a steady load
 * sends no acks.
 */
import type { Endpoint } from 'comlink';
import { transferHandlers } from 'comlink/dist/esm/comlink.mjs';
import type { Transferable } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';
import { SLICE_MS, TimeSlicer } from './time-slicer.ts';

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

/** The most messages one postMessage carries. */
const MAX_BATCH_MESSAGES = 64;
/** Batches of a backlog sent and not yet delivered on the other side. */
const MAX_UNACKED = 2;

/** A batch that asks for an ack once its last message is delivered. */
interface AckedBatch {
  parleyBatch: unknown[];
}
const ACK = { parleyAck: true } as const;

function isAckedBatch(value: unknown): value is AckedBatch {
  return typeof value === 'object' && value !== null && Array.isArray((value as AckedBatch).parleyBatch);
}

function isAck(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as typeof ACK).parleyAck === true;
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
  let batchLimit = MAX_BATCH_MESSAGES;
  let unacked = 0;
  /** The window waits for an ack before it sends more. */
  let waitingForAck = false;
  const slicer = new TimeSlicer();

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
    if (Array.isArray(value)) {
      for (const data of value) slicer.run(() => deliver(data));
    } else if (isAckedBatch(value)) {
      for (const data of value.parleyBatch) slicer.run(() => deliver(data));
      slicer.run(() => target.postMessage(ACK));
    } else if (isAck(value)) {
      unacked--;
      if (waitingForAck) {
        waitingForAck = false;
        closeWindow();
      }
    } else slicer.run(() => deliver(value));
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

  /** Posts `batch`; with `ack`, as one that asks for an ack. True when it went as one batch. */
  const send = (batch: Outgoing[], ack = false): boolean => {
    const transfer = batch.length === 1 ? batch[0]!.transfer : batch.flatMap((o) => o.transfer);
    const messages = batch.map((o) => o.message);
    try {
      target.postMessage(ack ? ({ parleyBatch: messages } satisfies AckedBatch) : messages, transfer);
      return true;
    } catch (err) {
      if (batch.length === 1) unsendable(batch[0]!.message, err);
      // Only the bad message should fail: send them one by one.
      else for (const one of batch) send([one]);
      return false;
    }
  };

  /**
   * Sends what is queued, batch by batch, until it is all sent, `untilMs`
   * (performance.now()) has passed, or, unless `flushing`, the backlog is
   * MAX_UNACKED batches ahead of the other side.
   */
  const sendQueued = (untilMs: number, flushing: boolean): void => {
    while (queue.length > 0) {
      if (!flushing && unacked >= MAX_UNACKED) {
        waitingForAck = true;
        return;
      }
      let batch = queue;
      if (queue.length <= batchLimit) queue = [];
      else {
        batch = queue.slice(0, batchLimit);
        queue = queue.slice(batchLimit);
      }
      const ack = !flushing && (queue.length > 0 || unacked > 0);
      const started = performance.now();
      if (send(batch, ack) && ack) unacked++;
      const now = performance.now();
      batchLimit = now - started > SLICE_MS ? Math.max(1, batchLimit >> 1) : Math.min(MAX_BATCH_MESSAGES, batchLimit * 2);
      if (now >= untilMs) return;
    }
  };

  const flush = (): void => sendQueued(Infinity, true);

  const closeWindow = (): void => {
    sendQueued(performance.now() + SLICE_MS, false);
    // What is left goes on the next turn, or when the other side has caught
    // up; the window stays open meanwhile, so messages posted in between
    // queue behind it, in order.
    if (queue.length === 0) windowOpen = false;
    else if (!waitingForAck) setImmediate(closeWindow);
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
