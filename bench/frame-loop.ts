/**
 * A host thread that renders: a frame every FRAME_MS that does WORK_MS of
 * CPU work, the rest of the frame idle for the event loop (tokens, timers).
 * How late each frame starts against its slot is the stutter a user sees.
 *
 * The work is a fixed amount of computation, calibrated once to take
 * WORK_MS on an idle CPU, not a spin until the clock says WORK_MS: a host
 * thread that loses its CPU to another thread mid-frame takes longer, as a
 * real renderer would. Host-thread counters (Linux, /proc/thread-self):
 * CPU time outside the frames' work (what the host spends on the streams,
 * plus the loop's own timers; the work is counted at its calibrated CPU time), and voluntary context switches, i.e. how
 * often the thread went to sleep and had to be woken.
 */
import { readFileSync } from 'node:fs';
import { percentile } from './stats.ts';

export const FRAME_MS = 16;
export const WORK_MS = 10;

let sink = 0;

/** `n` rounds of an xorshift: work the JIT cannot drop or fold. */
function compute(n: number): void {
  let x = sink | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
  }
  sink = x;
}

let iterationsPerMs: number | undefined;

/** Iterations per ms on this CPU: the best of several short tries (the least disturbed one). */
export function calibrate(): number {
  if (iterationsPerMs) return iterationsPerMs;
  let n = 100_000;
  compute(n);
  let best = 0;
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    compute(n);
    const ms = performance.now() - t0;
    best = Math.max(best, n / ms);
    if (ms < 2) n *= 2;
  }
  iterationsPerMs = best;
  return best;
}

/** This thread's CPU time in ns (schedstat), or NaN where there is none. */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ', 1)[0]);
  } catch {
    return Number.NaN;
  }
}

/** This thread's context switches: voluntary (it slept) and involuntary (it was preempted). */
function contextSwitches(): { voluntary: number; involuntary: number } {
  try {
    const status = readFileSync('/proc/thread-self/status', 'latin1');
    const read = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { voluntary: read('voluntary_ctxt_switches'), involuntary: read('nonvoluntary_ctxt_switches') };
  } catch {
    return { voluntary: Number.NaN, involuntary: Number.NaN };
  }
}

export interface FrameReport {
  frames: number;
  /** |start - slot| of every frame, ms. */
  jitterMs: number[];
  jitterP99Ms: number;
  elapsedMs: number;
  /** Host-thread CPU outside the frames' work, ns. */
  outsideWorkCpuNs: number;
  /** Times the host thread slept and was woken, per second. */
  wakeupsPerSec: number;
  /** Times the host thread was preempted, per second. */
  preemptionsPerSec: number;
}

/** Runs frames until stop() is called; stop() resolves once the frame in progress has ended. */
export class FrameLoop {
  readonly #work = Math.round(calibrate() * WORK_MS);
  readonly #jitter: number[] = [];
  #t0 = 0;
  #slot = 0;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #cpu0 = 0;
  #switches0 = contextSwitches();

  start(): this {
    this.#t0 = performance.now();
    this.#cpu0 = threadCpuNs();
    this.#switches0 = contextSwitches();
    this.#timer = setTimeout(() => this.#frame(), FRAME_MS);
    this.#slot = 1;
    return this;
  }

  #frame(): void {
    const now = performance.now();
    this.#jitter.push(Math.abs(now - (this.#t0 + this.#slot * FRAME_MS)));
    compute(this.#work);
    if (this.#stopped) return;
    // The next slot still ahead: a frame that overran skips the slots it missed, as a renderer drops frames.
    const end = performance.now();
    this.#slot = Math.max(this.#slot + 1, Math.ceil((end - this.#t0) / FRAME_MS));
    this.#timer = setTimeout(() => this.#frame(), this.#t0 + this.#slot * FRAME_MS - end);
  }

  stop(): FrameReport {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const elapsedMs = performance.now() - this.#t0;
    const switches = contextSwitches();
    return {
      frames: this.#jitter.length,
      jitterMs: this.#jitter,
      jitterP99Ms: percentile(this.#jitter, 99),
      elapsedMs,
      // The kernel updates a running thread's schedstat only at ticks and switches, too coarse to read around each frame:
      // the work's CPU is taken as the calibrated figure per frame, a fixed amount of computation.
      outsideWorkCpuNs: threadCpuNs() - this.#cpu0 - this.#jitter.length * WORK_MS * 1e6,
      wakeupsPerSec: ((switches.voluntary - this.#switches0.voluntary) / elapsedMs) * 1000,
      preemptionsPerSec: ((switches.involuntary - this.#switches0.involuntary) / elapsedMs) * 1000,
    };
  }
}
