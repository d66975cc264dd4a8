/**
 * What two thread hops cost on this machine, as a contender of the c=1
 * scenario: its "chat" is one postMessage round trip to a worker thread
 * that does nothing but echo. Both threads go idle between trips, as the
 * host and the provider worker do while a chat is on the network, so each
 * trip pays for waking a sleeping thread twice. Any design that moves the
 * I/O off the host thread adds at least this to a lone call; on a VM it is
 * mostly the wake-ups.
 *
 * It runs in the same interleaved rounds as the clients, so each round's
 * "added beyond a round trip" subtracts a round trip measured in the same
 * minute: on a shared VM the wake-up cost drifts by tens of µs between
 * phases, as much as the figure it is subtracted from.
 */
import { Worker } from 'node:worker_threads';
import type { Client, Contender } from './contenders/contender.ts';

const ECHO = `const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m));`;

export const THREAD_ROUND_TRIP = 'bare thread round trip';

export function threadRoundTrip(): Contender {
  return {
    name: THREAD_ROUND_TRIP,
    protocol: 'openai',
    async open(): Promise<Client> {
      const worker = new Worker(ECHO, { eval: true });
      await new Promise((resolve, reject) => {
        worker.once('online', resolve);
        worker.once('error', reject);
      });
      const trip = () =>
        new Promise<string>((resolve) => {
          worker.once('message', resolve);
          worker.postMessage('');
        });
      return {
        chat: trip,
        stream: () => Promise.reject(new Error('a thread round trip has no stream')),
        close: async () => void (await worker.terminate()),
      };
    },
  };
}
