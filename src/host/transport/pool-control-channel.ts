/**
 * The pool's side channel to its threads: piscina gives no way to address
 * one thread, so heartbeats, settings, cancels, stats and the graceful close
 * travel on one BroadcastChannel that every thread of the pool joins (its
 * name is in the threads' PoolInit). Messages are `PoolControl`
 * (shared/protocol.ts). A thread that is still loading its modules is not
 * listening yet and misses a broadcast: what must arrive is sent again
 * (PoolTransport repeats settings and cancels, `closeAll` repeats the close).
 */
import { BroadcastChannel } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import type { PoolControl, WorkerStats } from '../../shared/protocol.ts';

/** How often the close is broadcast again while a thread has not answered it, in ms. */
const CLOSE_REPEAT_MS = 100;

export class PoolControlChannel {
  /** The channel's name, for the threads' PoolInit. */
  readonly name = `parley-pool-${randomUUID()}`;
  readonly #channel: BroadcastChannel;
  #statsSeq = 0;
  readonly #statsWaiters = new Map<number, (stats: WorkerStats) => void>();
  /** Told of every thread that closed, or is gone (`threadGone`). */
  readonly #closedWaiters = new Set<(workerId: number) => void>();

  /** `onBeat`: a thread's heartbeat, with the settings generation it runs on. */
  constructor(onBeat: (workerId: number, generation: number) => void) {
    this.#channel = new BroadcastChannel(this.name);
    // An idle runtime does not keep its host process alive: the threads are unref'd, and so is their channel.
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      const msg = (event as unknown as { data: PoolControl }).data;
      if (msg.type === 'beat') onBeat(msg.workerId, msg.generation);
      else if (msg.type === 'stats') this.#statsWaiters.get(msg.seq)?.(msg.stats);
      else if (msg.type === 'closed') for (const waiter of this.#closedWaiters) waiter(msg.workerId);
    };
  }

  /** To every thread of the pool that listens now. */
  post(msg: PoolControl): void {
    this.#channel.postMessage(msg);
  }

  /** The figures of up to `expected` threads: those that answer within `deadlineMs`, by workerId. */
  async collectStats(expected: number, deadlineMs: number): Promise<WorkerStats[]> {
    const seq = ++this.#statsSeq;
    const collected: WorkerStats[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, deadlineMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#statsWaiters.set(seq, (stats) => {
        collected.push(stats);
        if (collected.length >= expected) done();
      });
      this.post({ type: 'stats-request', seq });
      if (expected === 0) done();
    });
    this.#statsWaiters.delete(seq);
    return collected.sort((a, b) => a.workerId - b.workerId);
  }

  /**
   * Broadcasts the graceful close (each thread aborts its calls and closes
   * its Agents, then answers `closed`) until every thread in `threads` has
   * answered or is gone, or `ms` has passed. True when they all did in time.
   */
  async closeAll(threads: Iterable<number>, ms: number): Promise<boolean> {
    const pending = new Set(threads);
    let waiter!: (workerId: number) => void;
    const allClosed = new Promise<void>((resolve) => {
      waiter = (workerId: number) => {
        pending.delete(workerId);
        if (pending.size === 0) resolve();
      };
      this.#closedWaiters.add(waiter);
      if (pending.size === 0) resolve();
    });
    this.post({ type: 'close' });
    const repeat = setInterval(() => this.post({ type: 'close' }), CLOSE_REPEAT_MS);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        allClosed.then(() => true),
        // Shutdown is awaited by the host: this timer keeps the process alive until it is done.
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
      ]);
    } finally {
      clearTimeout(timer);
      clearInterval(repeat);
      this.#closedWaiters.delete(waiter);
    }
  }

  /** A thread died: a close waits for no answer from it. */
  threadGone(workerId: number): void {
    for (const waiter of this.#closedWaiters) waiter(workerId);
  }

  close(): void {
    this.#channel.close();
  }
}
