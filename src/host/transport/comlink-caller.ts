/**
 * The host's end of the Comlink protocol. The provider worker is a Comlink
 * `expose`d ProviderService; every call here is a Comlink APPLY message, and
 * every answer a Comlink wire value, an error coming back through Comlink's
 * "throw" transfer handler (ours, src/wire/error-transfer.ts), so the worker side and
 * the wire are Comlink's own.
 *
 * What this leaves out is the generic client that `wrap` builds: a Proxy per
 * property read, and per call an id made of four Math.random() numbers
 * printed in hex, 4.3 µs on this project's bench machine, the largest single
 * cost of a chat on the host thread. Ids here are a counter; the calls are
 * the few methods ProviderServiceApi names, so no Proxy is needed.
 */
import type { Endpoint } from 'comlink';
import { transferHandlers } from 'comlink/dist/esm/comlink.mjs';
import type { Transferable } from 'node:worker_threads';

type Method<T> = { [K in keyof T]: T[K] extends (...args: never[]) => unknown ? K : never }[keyof T] & string;
type Args<T, K extends Method<T>> = T[K] extends (...args: infer A) => unknown ? A : never;
type Result<T, K extends Method<T>> = T[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** Who hears the answer: a promise's functions, or an object such as a PendingCall. */
export interface Waiting {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export const NO_TRANSFER: readonly Transferable[] = [];

/** A Comlink reply: RAW carries the value, HANDLER a value for the named transfer handler. */
interface Reply {
  id: number;
  type: 'RAW' | 'HANDLER';
  name?: string;
  value: unknown;
}

export class ComlinkCaller<T> {
  readonly #endpoint: Endpoint;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  #closedWith: unknown;

  constructor(endpoint: Endpoint) {
    this.#endpoint = endpoint;
    endpoint.addEventListener('message', ((event: { data: unknown }) => this.#answer(event.data as Reply)) as never);
  }

  /** How many calls wait for their answer. */
  get waiting(): number {
    return this.#waiting.size;
  }

  call<K extends Method<T>>(method: K, args: Args<T, K>, transfer: readonly Transferable[] = NO_TRANSFER): Promise<Result<T, K>> {
    return new Promise((resolve, reject) => this.send(method, args, transfer, { resolve: resolve as (value: unknown) => void, reject }));
  }

  /** Like call(), with the answer going to `waiting` instead of a new promise. */
  send<K extends Method<T>>(method: K, args: Args<T, K>, transfer: readonly Transferable[], waiting: Waiting): void {
    if (this.#closedWith !== undefined) return waiting.reject(this.#closedWith);
    const argumentList = new Array<{ type: 'RAW'; value: unknown }>(args.length);
    for (let i = 0; i < args.length; i++) argumentList[i] = { type: 'RAW', value: args[i] };
    const id = this.#nextId++;
    this.#waiting.set(id, waiting);
    this.#endpoint.postMessage({ id, type: 'APPLY', path: [method], argumentList }, transfer as Transferable[] as never);
  }

  /**
   * The worker is gone: nothing will answer. The runtime has already failed
   * these calls its own way; settling them here lets their promise chains
   * (and what they hold) go.
   */
  close(reason: unknown): void {
    this.#closedWith ??= reason;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(reason);
  }

  #answer(reply: Reply): void {
    const id = reply?.id;
    if (typeof id !== 'number') return;
    const waiting = this.#waiting.get(id);
    if (!waiting) return;
    this.#waiting.delete(id);
    if (reply.type === 'RAW') return waiting.resolve(reply.value);
    const handler = reply.name === undefined ? undefined : transferHandlers.get(reply.name);
    if (!handler) return waiting.reject(new TypeError(`Comlink reply with unknown handler ${JSON.stringify(reply.name)}`));
    try {
      // The "throw" handler throws the rebuilt error from deserialize.
      waiting.resolve(handler.deserialize(reply.value));
    } catch (err) {
      waiting.reject(err);
    }
  }
}
