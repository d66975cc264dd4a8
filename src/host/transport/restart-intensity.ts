/**
 * Restart intensity, as an OTP supervisor bounds it: a worker may crash and
 * be replaced, but more than `maxRestarts` crashes inside `windowMs` mean
 * something is wrong that restarting will not fix. Then the runtime stops
 * trying (state 'failed') instead of spinning, until the host says restart().
 */
import { ParleyError } from '../../shared/errors.ts';
import type { RestartPolicy } from '../options.ts';

export class RestartIntensity {
  readonly #policy: Required<RestartPolicy>;
  #crashTimes: number[] = [];
  #failure: string | undefined;

  constructor(policy: Required<RestartPolicy>) {
    this.#policy = policy;
  }

  /** Why the runtime gave up restarting, once it has. */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** Records a crash. Returns the backoff before the restart, or undefined when the crashes in the window are past `maxRestarts`. */
  crashed(reason: string, now = Date.now()): number | undefined {
    this.#crashTimes = this.#crashTimes.filter((t) => now - t < this.#policy.windowMs);
    this.#crashTimes.push(now);
    const crashes = this.#crashTimes.length;
    if (crashes > this.#policy.maxRestarts) {
      this.#failure = `${crashes} worker crashes within ${this.#policy.windowMs} ms; last: ${reason}`;
      return undefined;
    }
    return Math.min(this.#policy.backoffMaxMs, this.#policy.backoffBaseMs * 2 ** (crashes - 1));
  }

  reset(): void {
    this.#crashTimes = [];
    this.#failure = undefined;
  }

  /** What every call gets while the runtime is failed. */
  failedError(): ParleyError {
    return new ParleyError('WORKER_CRASHED', `the runtime has failed (${this.#failure ?? 'worker crashes'}); call runtime.restart() or shut it down`, {
      retryable: false,
    });
  }
}
