/**
 * Entry point of the dedicated provider worker (workers: 1). It builds the
 * ProviderHost from workerData, exposes it over Comlink, answers heartbeats
 * on their own port, and after close() lets its event loop run dry so the
 * thread exits by itself.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { expose } from 'comlink/dist/esm/comlink.mjs';
import { batchingEndpoint } from '../src/batching-endpoint.ts';
import { installErrorTransfer } from '../src/comlink-errors.ts';
import type { Heartbeat, WorkerInit } from '../src/protocol.ts';
import { ProviderHost } from '../src/provider/provider-host.ts';

if (!parentPort) throw new Error('provider-actor must run inside a worker thread');

installErrorTransfer();
const init = workerData as WorkerInit & { heartbeatPort: MessagePort };
const host = new ProviderHost(init.workerId, init.providers, init.transport, init.nice);
const port = parentPort;
const endpoint = batchingEndpoint(port);

init.heartbeatPort.on('message', (msg: Heartbeat) => {
  if (msg.type === 'ping') init.heartbeatPort.postMessage({ type: 'pong', seq: msg.seq } satisfies Heartbeat);
});

// close() answers first, then the ports close on the next turn so the
// answer is on its way before the channel goes quiet.
const originalClose = host.close.bind(host);
host.close = async () => {
  const report = await originalClose();
  setImmediate(() => {
    endpoint.flush();
    init.heartbeatPort.close();
    port.close();
  });
  return report;
};

expose(host, endpoint);
