/**
 * The one worker entry (`parley/worker`), for both modes, so a bundler or an
 * Electron build has a single file to emit or unpack (RuntimeOptions.workerEntry).
 * What started the thread decides its role, told by workerData's shape:
 * - actor mode: the host's own `new Worker` gives a WorkerInit with a
 *   heartbeat port; the thread exposes its ProviderService over Comlink;
 * - pool mode: piscina's thread script loads this module (require or import)
 *   with a PoolInit naming the control channel, and calls the default export
 *   once per task.
 * Loaded anywhere else, it throws: it is not a library module.
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import type { PoolInit, WorkerInit } from '../src/shared/protocol.ts';
import { loadDispatcherClasses } from '../src/provider/http/undici-dispatchers.ts';
import { startActor } from './provider-actor.ts';
import { providerTask, startPoolThread } from './provider-task.ts';

type Init = (WorkerInit & { heartbeatPort: MessagePort }) | PoolInit;

const init = workerData as Init | undefined;
if (isMainThread || typeof init !== 'object' || init === null) {
  throw new Error('parley/worker is a worker thread entry: name it in RuntimeOptions.workerEntry, do not import it');
}
// undici's classes first: every ProviderService builds its sessions on them.
// A thread that cannot load undici at all rejects here, and its 'error'
// reaches the host as a crash at start.
const loaded = loadDispatcherClasses();
if ('controlChannel' in init) startPoolThread(init, loaded);
else void loaded.then(() => startActor(init));

export default providerTask;
