/**
 * The response size cap (maxResponseBytes) measured against the provider
 * worker's heap limit (resourceLimits.maxOldGenerationSizeMb), at the door.
 *
 * Why: a worker that passes its heap limit is meant to die alone, as a crash
 * like any other (Node's Worker emits ERR_WORKER_OUT_OF_MEMORY). But Node
 * grants a worker only 16 MiB past its limit to stop in; one allocation
 * bigger than what is left then (JSON.parse building the content string of
 * a 30 MiB reply in one piece) is a V8 fatal error, and that aborts the
 * whole process, host thread included (exit 134). A reply the cap lets
 * through must fit in the worker's heap.
 *
 * Measured (bench machine, Node 20, OpenAI protocol, model server in its own
 * process): the smallest maxOldGenerationSizeMb that serves one reply of
 * N MiB is about 12 MB of idle worker plus 1×N for a chat of ASCII text, and
 * plus 2×N for a stream or for a chat with any non-ASCII character (the
 * body is then a two-byte string: 2 bytes per character).
 */
import type { ResourceLimits } from 'node:worker_threads';
import { ParleyError } from '../shared/errors.ts';

/**
 * MB of old generation kept for the worker itself: the 12 an idle provider
 * worker needs (measured, from source under tsx and compiled alike) and 4 for
 * the garbage and bookkeeping of the calls in flight. Below it, replies that
 * fit on paper still ran a 16 MB worker out of memory in 2 of 5 streams.
 */
const WORKER_HEAP_RESERVE_MB = 16;
/** Heap bytes one response byte may cost at its peak: 2 measured, plus room for a second call's garbage. */
const RESPONSE_HEAP_FACTOR = 3;

const MIB = 1024 * 1024;

function fail(message: string): never {
  throw new ParleyError('CONFIG', message);
}

/**
 * The largest response a worker with `heapLimitMb` of old generation can
 * take in: (heapLimitMb - WORKER_HEAP_RESERVE_MB) MiB / RESPONSE_HEAP_FACTOR,
 * in bytes.
 */
export function responseBytesFor(heapLimitMb: number): number {
  return Math.floor(((heapLimitMb - WORKER_HEAP_RESERVE_MB) * MIB) / RESPONSE_HEAP_FACTOR);
}

/**
 * maxResponseBytes as the runtime applies it. Without a heap limit: `given`,
 * else `fallback`. With resourceLimits.maxOldGenerationSizeMb: a `given` cap
 * that does not fit (responseBytesFor) throws CONFIG naming both options; no
 * cap given means `fallback` lowered to fit.
 *
 * @throws ParleyError CONFIG when maxOldGenerationSizeMb is not a number
 *   above WORKER_HEAP_RESERVE_MB, or when `given` does not fit in it.
 */
export function fitResponseCap(given: number | undefined, fallback: number, limits: ResourceLimits | undefined): number {
  const heapLimitMb = limits?.maxOldGenerationSizeMb;
  if (heapLimitMb === undefined) return given ?? fallback;
  if (typeof heapLimitMb !== 'number' || !Number.isFinite(heapLimitMb) || heapLimitMb <= WORKER_HEAP_RESERVE_MB) {
    fail(
      `options.resourceLimits.maxOldGenerationSizeMb must be a number above ${WORKER_HEAP_RESERVE_MB} ` +
        `(an idle provider worker holds about 12 MB, and calls need room; got ${JSON.stringify(heapLimitMb)})`,
    );
  }
  const fits = responseBytesFor(heapLimitMb);
  if (given === undefined) return Math.max(1, Math.min(fallback, fits));
  if (given > fits) {
    fail(
      `options.maxResponseBytes (${given}) does not fit in options.resourceLimits.maxOldGenerationSizeMb (${heapLimitMb}): ` +
        `a response costs the worker up to ${RESPONSE_HEAP_FACTOR}× its size in heap, so at most ${fits} bytes fit; ` +
        `lower maxResponseBytes or raise maxOldGenerationSizeMb`,
    );
  }
  return given;
}
