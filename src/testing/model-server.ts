/**
 * The embedded model server: a real node:http server on loopback that owns
 * every socket it accepts, so tests can count connections, drop them, refuse
 * new ones and restart on the same port the way a real provider does.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { FaultSchedule } from './faults.ts';
import { resolveServerOptions, type Fault, type ModelServerOptions, type ResolvedOptions } from './options.ts';
import { handleRequest, type RecordedRequest } from './routes.ts';

export interface ModelServerStats {
  connectionsOpen: number;
  connectionsAccepted: number;
  /** Requests received, whatever became of them (faults included). */
  requestsServed: number;
  /** Chat responses waiting for their client to read: the socket is full, the server waits for 'drain' (backpressure reached it). */
  responsesBlocked: number;
}

export interface ModelServer {
  /** 'http://127.0.0.1:PORT' */
  readonly url: string;
  readonly port: number;
  /** Closes the listener and destroys every open socket; idempotent. */
  close(): Promise<void>;
  stats(): ModelServerStats;
  /** The fault of every chat request from now on; undefined clears it. */
  setFault(fault: Fault | undefined): void;
  /** A fault for only the next `times` chat requests. @default times 1 */
  injectFault(fault: Fault, times?: number): void;
  /** on: stop listening (ECONNREFUSED) and destroy open sockets; off: listen again on the same port. */
  refuse(on: boolean): Promise<void>;
  /** Drops every socket and listens again on the same port: a provider restart. */
  restart(): Promise<void>;
  /** Destroys every open socket now, as a server closing its keep-alive sockets does. */
  dropConnections(): void;
  /** The last 100 requests, oldest first. */
  readonly requests: RecordedRequest[];
  /** Changes options at run time (tokenDelayMs, reasoning, tools, fault, closeAfterRequests, ...); port and host are fixed. */
  setOptions(patch: Partial<ModelServerOptions>): void;
}

const RECORDED_REQUESTS = 100;

class EmbeddedModelServer implements ModelServer {
  readonly requests: RecordedRequest[] = [];
  #options: ResolvedOptions;
  #faults: FaultSchedule;
  #server: Server;
  #sockets = new Set<Socket>();
  #requestsPerSocket = new WeakMap<Socket, number>();
  #accepted = 0;
  #served = 0;
  #blocked = 0;
  #ids = 0;
  #port = 0;
  #listening = false;
  /** Lifecycle verbs run one at a time, so refuse/restart/close never interleave. */
  #lifecycle: Promise<void> = Promise.resolve();
  #closed: Promise<void> | undefined;

  constructor(options: ResolvedOptions) {
    this.#options = options;
    this.#faults = new FaultSchedule(options.fault);
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res);
    this.#server = options.tls ? createTlsServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : createServer(onRequest);
    this.#server.keepAliveTimeout = options.keepAliveTimeoutMs;
    // Counted at the TCP level in both modes: a TLS handshake that fails is still a connection accepted.
    this.#server.on('connection', (socket: Socket) => {
      this.#accepted += 1;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    // A client that vanishes mid-request must not take the server down.
    this.#server.on('clientError', (_err, socket) => socket.destroy());
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    const host = this.#options.host.includes(':') ? `[${this.#options.host}]` : this.#options.host;
    return `${this.#options.tls ? 'https' : 'http'}://${host}:${this.#port}`;
  }

  stats(): ModelServerStats {
    return { connectionsOpen: this.#sockets.size, connectionsAccepted: this.#accepted, requestsServed: this.#served, responsesBlocked: this.#blocked };
  }

  setFault(fault: Fault | undefined): void {
    this.#faults.set(fault);
  }

  injectFault(fault: Fault, times = 1): void {
    this.#faults.inject(fault, times);
  }

  setOptions(patch: Partial<ModelServerOptions>): void {
    if (patch.port !== undefined || patch.host !== undefined || patch.tls !== undefined) {
      throw new TypeError('setOptions(patch): port and host are fixed once the server listens, as is tls; start another server instead');
    }
    this.#options = resolveServerOptions(patch, this.#options);
    this.#server.keepAliveTimeout = this.#options.keepAliveTimeoutMs;
    if ('fault' in patch) this.#faults.set(this.#options.fault);
  }

  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  refuse(on: boolean): Promise<void> {
    return this.#serially(() => (on ? this.#stopListening() : this.listen(this.#port)));
  }

  restart(): Promise<void> {
    return this.#serially(async () => {
      await this.#stopListening();
      await this.listen(this.#port);
    });
  }

  close(): Promise<void> {
    this.#closed ??= this.#serially(() => this.#stopListening());
    return this.#closed;
  }

  /** Listens on `port` (0 the first time; the same port on refuse(false)/restart()). */
  async listen(port: number): Promise<void> {
    if (this.#closed) throw new Error('the model server is closed');
    if (this.#listening) return;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(port, this.#options.host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    const address = this.#server.address();
    if (address && typeof address === 'object') this.#port = address.port;
    this.#listening = true;
  }

  #serially(step: () => Promise<void>): Promise<void> {
    const next = this.#lifecycle.then(step);
    this.#lifecycle = next.catch(() => undefined);
    return next;
  }

  /** Destroys every socket and resolves once each has emitted 'close', so stats() reads 0 right after. */
  async #dropAndWait(): Promise<void> {
    // Sockets leave the set on 'close', so every one still in it has that event ahead of it.
    const gone = [...this.#sockets].map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
    this.dropConnections();
    await Promise.all(gone);
  }

  async #stopListening(): Promise<void> {
    if (!this.#listening) return this.#dropAndWait();
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.#dropAndWait();
    await closed;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.#served += 1;
    const socket = req.socket;
    const count = (this.#requestsPerSocket.get(socket) ?? 0) + 1;
    this.#requestsPerSocket.set(socket, count);
    const limit = this.#options.closeAfterRequests;
    if (limit !== undefined && count >= limit) res.setHeader('connection', 'close');
    // An explicit Connection header is what stops Node from adding its hint.
    else if (!this.#options.advertiseKeepAlive) res.setHeader('connection', 'keep-alive');
    handleRequest(req, res, {
      options: () => this.#options,
      faults: this.#faults,
      record: (r) => {
        this.requests.push(r);
        if (this.requests.length > RECORDED_REQUESTS) this.requests.shift();
      },
      nextId: () => `parley${(++this.#ids).toString().padStart(6, '0')}`,
      blocked: (delta) => {
        this.#blocked += delta;
      },
    }).catch((err: unknown) => {
      // A bug here must surface in the response, not as an unhandled rejection that kills the test run.
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`model server error: ${(err as Error)?.message ?? String(err)}`);
      } else res.destroy();
    });
  }
}

/**
 * Starts a model server on loopback; port 0 (the default) picks a free port.
 * @example
 * const server = await startModelServer({ tokenDelayMs: 5 });
 * try {
 *   server.injectFault({ kind: 'reset', afterTokens: 3 });
 *   // point an Ollama provider at server.url, an OpenAI one at `${server.url}/v1`, an Anthropic one at server.url
 * } finally {
 *   await server.close();
 * }
 */
export async function startModelServer(options?: ModelServerOptions): Promise<ModelServer> {
  const resolved = resolveServerOptions(options ?? {});
  const server = new EmbeddedModelServer(resolved);
  await server.listen(resolved.port);
  return server;
}

export type { RecordedRequest };
