/**
 * What two thread hops cost on this machine, measured alone: the p50 of a
 * postMessage round trip to a worker thread that does nothing but echo.
 * Both threads go idle between trips, as the host and the provider worker
 * do while a chat is on the network, so each trip pays for waking a
 * sleeping thread twice. Any design that moves the I/O off the host thread
 * adds at least this to a lone call; on a VM it is mostly the wake-ups.
 */
import { Worker } from 'node:worker_threads';
import { percentile } from './stats.ts';

const ECHO = `require('node:worker_threads').parentPort.on('message', (m) => require('node:worker_threads').parentPort.postMessage(m));`;

export async function threadRoundTripP50Us(trips = 2_000): Promise<number> {
  const worker = new Worker(ECHO, { eval: true });
  try {
    await new Promise((resolve) => worker.once('online', resolve));
    const trip = () =>
      new Promise<number>((resolve) => {
        const t0 = performance.now();
        worker.once('message', () => resolve((performance.now() - t0) * 1000));
        worker.postMessage(0);
      });
    for (let i = 0; i < 200; i++) await trip();
    const samples: number[] = [];
    for (let i = 0; i < trips; i++) samples.push(await trip());
    return percentile(samples, 50);
  } finally {
    await worker.terminate();
  }
}
