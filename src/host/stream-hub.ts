/**
 * The host's end of the provider workers' stream hubs (the worker side is
 * src/provider/stream-hub.ts): every stream reader of this process
 * registers under a key, which it queues on its own port for the worker;
 * a hub, once adopted, delivers each stream's messages to its reader by key.
 * Keys are unique in the process, so every runtime's workers share this
 * one registry. A message for a key no longer registered belongs to a
 * stream the host has already ended, and is dropped.
 */
import type { MessagePort } from 'node:worker_threads';
import type { EventBatch } from '../shared/event-batch.ts';
import type { HubReady, StreamHubMessage, StreamToHost } from '../shared/protocol.ts';

export interface HubReader {
  receive(msg: StreamToHost): void;
  receiveBatch(batch: EventBatch): void;
}

const readers = new Map<number, HubReader>();

/** What the hubs have carried in this process: hubs adopted, postMessages, stream messages inside them. For tests and the bench. */
export const hubCounters = { adopted: 0, messages: 0, streamMessages: 0 };
let lastKey = 0;

export function registerReader(reader: HubReader): number {
  // Keys wrap long before they lose precision; a reader lives far shorter than 2^53 streams.
  lastKey = lastKey >= Number.MAX_SAFE_INTEGER ? 1 : lastKey + 1;
  readers.set(lastKey, reader);
  return lastKey;
}

export function unregisterReader(key: number): void {
  readers.delete(key);
}

function route(msg: StreamHubMessage): void {
  hubCounters.messages++;
  hubCounters.streamMessages += msg.length >> 1;
  for (let i = 0; i < msg.length; i += 2) {
    const reader = readers.get(msg[i] as number);
    if (!reader) continue;
    const item = msg[i + 1] as EventBatch | StreamToHost;
    try {
      if ('kinds' in item) reader.receiveBatch(item);
      else reader.receive(item);
    } catch (err) {
      // One reader's failure must not drop the other streams' messages; it still surfaces.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

/** Takes a worker's hub into use and tells the worker so. It closes when the worker goes. */
export function adoptHub(port: MessagePort): void {
  hubCounters.adopted++;
  port.on('message', route);
  // Never what keeps a host process alive: a stream in flight has its own port for that.
  port.unref();
  port.postMessage('ready' satisfies HubReady);
}
