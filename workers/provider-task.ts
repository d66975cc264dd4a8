/**
 * A pool worker's role (workers > 1): piscina loads provider-worker.ts, which
 * starts this and hands piscina providerTask. Each thread
 * builds one ProviderService when it starts and keeps its Agents for the life of
 * the pool; every task is one call on it. Heartbeats, cancels, stats and
 * close travel on a BroadcastChannel, since piscina gives no way to address
 * one thread.
 */
import { BroadcastChannel, threadId, type MessagePort } from 'node:worker_threads';
import { toWireError } from '../src/shared/error-wire.ts';
import type { PoolControl, PoolInit, PoolReply, PoolTask } from '../src/shared/protocol.ts';
import { ProviderService } from '../src/provider/provider-service.ts';
import { TimeSlicer } from '../src/wire/time-slicer.ts';

let service: ProviderService;
/** Resolves once this thread's service is built: a task piscina hands over before that waits for it. */
let started: Promise<void>;

export function startPoolThread(init: PoolInit, loaded: Promise<unknown>): void {
  started = loaded.then(() => startService(init));
}

function startService(init: PoolInit): void {
  service = new ProviderService(threadId, init.providers, init.http, init.nice, init.generation);
  const control = new BroadcastChannel(init.controlChannel);
  const post = (msg: PoolControl) => control.postMessage(msg);

  const beat = setInterval(() => post({ type: 'beat', workerId: threadId, generation: service.generation }), init.heartbeatIntervalMs);
  post({ type: 'beat', workerId: threadId, generation: service.generation });

  control.onmessage = (event) => {
    const msg = (event as unknown as { data: PoolControl }).data;
    switch (msg.type) {
      case 'configure':
        service.configure(msg.generation, msg.providers);
        // Said at once, so the host does not wait a heartbeat to learn this thread caught up.
        post({ type: 'beat', workerId: threadId, generation: service.generation });
        break;
      case 'cancel':
        service.cancel(msg.callId, msg.reason);
        break;
      case 'stats-request':
        void service.stats().then((stats) => post({ type: 'stats', seq: msg.seq, stats }));
        break;
      case 'close':
        clearInterval(beat);
        void service.close().then((report) => {
          post({ type: 'closed', workerId: threadId, report });
          control.close();
        });
        break;
    }
  };
}

/** Piscina hands a thread every task queued on its port in one callback: their sync parts run a slice at a time. */
const slicer = new TimeSlicer();

export function providerTask(task: PoolTask): Promise<PoolReply> {
  return new Promise((resolve) => slicer.run(() => resolve(run(task))));
}

async function run(task: PoolTask): Promise<PoolReply> {
  try {
    // Only the tasks piscina hands over before the service is built wait; the rest pay no await.
    if (!service) await started;
    // Made under settings this thread has not heard of yet: they are on their way (see PoolInit.generation).
    if (task.generation > service.generation) await service.whenGeneration(task.generation);
    switch (task.kind) {
      case 'chat':
        return { ok: true, value: await service.chat(task.meta, task.provider, task.req) };
      case 'stream':
        await service.streamToEnd(task.meta, task.provider, task.req, task.port as MessagePort);
        return { ok: true, value: undefined };
      case 'models':
        return { ok: true, value: await service.models(task.meta, task.provider) };
      case 'health':
        return { ok: true, value: await service.health(task.meta, task.provider) };
    }
  } catch (err) {
    return { ok: false, error: toWireError(err) };
  }
}
