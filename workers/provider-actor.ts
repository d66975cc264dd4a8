/**
 * The dedicated provider worker's role (workers: 1), started by
 * provider-worker.ts. It builds the ProviderService from workerData, exposes
 * it over Comlink, answers heartbeats on their own port, and after close()
 * lets its event loop run dry so the thread exits by itself.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import { batchingEndpoint } from '../src/wire/batching-endpoint.ts';
import { installErrorTransfer } from '../src/wire/error-transfer.ts';
import type { Heartbeat, WorkerInit } from '../src/shared/protocol.ts';
import { ProviderService } from '../src/provider/provider-service.ts';

export function startActor(init: WorkerInit & { heartbeatPort: MessagePort }): void {
  if (!parentPort) throw new Error('provider-actor must run inside a worker thread');
  installErrorTransfer();
  const service = new ProviderService(init.workerId, init.providers, init.http, init.nice, init.generation);
  const port = parentPort;
  const endpoint = batchingEndpoint(port);

  init.heartbeatPort.on('message', (msg: Heartbeat) => {
    if (msg.type === 'ping') init.heartbeatPort.postMessage({ type: 'pong', seq: msg.seq } satisfies Heartbeat);
  });

  // The two ports this role holds ref'd: the parent port and the heartbeat's.
  service.releaseAfterClose(() => {
    endpoint.flush();
    init.heartbeatPort.close();
    port.close();
  }, 2);

  expose(service, endpoint);
  // Said at once, unasked: the host learns this thread has loaded and can
  // serve (createRuntime waits for it) without waiting a heartbeat interval.
  init.heartbeatPort.postMessage({ type: 'pong', seq: 0 } satisfies Heartbeat);
}
