/**
 * How one provider's requests reach its origin: directly, through the proxy
 * its config names, or through the environment's proxy (HTTPS_PROXY,
 * HTTP_PROXY, NO_PROXY, either case, read by undici's EnvHttpProxyAgent);
 * and which certificates its TLS trusts. Built once per session, in the
 * worker, from the worker's own environment.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { HttpSettings } from '../../shared/protocol.ts';
import type { ProviderConfig } from '../../shared/types.ts';
import { environmentProxies } from '../../shared/redaction.ts';
import { SocketGate } from './socket-gate.ts';
import { dispatcherClasses } from './undici-dispatchers.ts';

type Agent = Undici.Agent;
type Dispatcher = Undici.Dispatcher;

/**
 * A dispatcher that counts the sockets its Agents open, so an exchange can
 * tell whether its request went out on a kept-alive one, and whose requests
 * wait for a socket in its gate rather than in undici's queue.
 */
export type CountingAgent = Dispatcher & { socketsOpened: number; gate: SocketGate };

export interface ProviderDispatcher {
  dispatcher: CountingAgent;
  /** The proxy requests may go through, for errors to name (never printed with its credentials). */
  proxy: string | undefined;
}

/** Loopback origins never go through the environment's proxy: local Ollama, LM Studio and llama.cpp keep working. */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

let extraCertificates: string[] | undefined;

/**
 * NODE_EXTRA_CA_CERTS, as Node read it at process start. Node adds them to
 * its default store, which a `ca` option replaces: so a provider's `ca` is
 * given on top of both, not instead of them.
 */
function nodeExtraCertificates(): string[] {
  if (extraCertificates) return extraCertificates;
  const file = process.env.NODE_EXTRA_CA_CERTS;
  extraCertificates = [];
  if (file) {
    try {
      extraCertificates = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    } catch {
      // Node warned about it at start-up; the roots still apply.
    }
  }
  return extraCertificates;
}

/**
 * Node's bundled root certificates. node:tls is loaded here, on first need,
 * not when the worker starts: with node:crypto under it, it is about 10 ms
 * of a worker's start, and a worker whose providers are all plain http
 * (local Ollama, LM Studio, llama.cpp) and name no `ca` never needs it
 * (undici loads it for its first https connection). A builtin resolves the
 * same from any path, so any will do for createRequire: the worker bundle is
 * CommonJS, where import.meta.url is not there.
 */
function rootCertificates(): readonly string[] {
  return (createRequire(process.execPath)('node:tls') as typeof import('node:tls')).rootCertificates;
}

function trust(ca: string | undefined): string[] | undefined {
  return ca === undefined ? undefined : [...rootCertificates(), ...nodeExtraCertificates(), ca];
}

/** The proxy the environment names for `protocol`, as EnvHttpProxyAgent picks it (before NO_PROXY). */
function environmentProxyFor(protocol: string): string | undefined {
  const env = process.env;
  const http = env.http_proxy ?? env.HTTP_PROXY;
  const https = env.https_proxy ?? env.HTTPS_PROXY;
  return (protocol === 'https:' ? https ?? http : http) || undefined;
}

export function createDispatcher(settings: HttpSettings, config: ProviderConfig, origin: string): ProviderDispatcher {
  const ca = trust(config.ca);
  const tls = { timeout: settings.connectTimeoutMs, ...(ca ? { ca } : {}) };
  const agentOptions: Undici.Agent.Options = {
    connections: settings.connections,
    pipelining: 1,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(settings.keepAliveTimeoutMs, 600_000),
    // Deadlines are parley's (one per call, covering connect, headers and body).
    // undici's hidden 300 s header/body defaults would cut long generations short.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: tls,
  };
  const { Agent, EnvHttpProxyAgent, ProxyAgent } = dispatcherClasses();
  const url = new URL(origin);
  let dispatcher: Dispatcher;
  let proxy: string | undefined;
  if (typeof config.proxy === 'string') {
    proxy = config.proxy;
    dispatcher = new ProxyAgent({ ...agentOptions, uri: proxy, requestTls: tls, proxyTls: tls });
  } else if (config.proxy === false || isLoopback(url.hostname) || environmentProxies(process.env).length === 0) {
    dispatcher = new Agent(agentOptions);
  } else {
    proxy = environmentProxyFor(url.protocol);
    dispatcher = new EnvHttpProxyAgent({ ...agentOptions, requestTls: tls, proxyTls: tls } as Undici.EnvHttpProxyAgent.Options);
  }
  const counting = dispatcher as CountingAgent;
  counting.socketsOpened = 0;
  counting.gate = new SocketGate(settings.connections);
  // undici emits 'connect' (on the Agent that owns the socket) before it writes the first request on it.
  for (const agent of innerAgents(dispatcher)) agent.on('connect', () => counting.socketsOpened++);
  return { dispatcher: counting, proxy };
}

/**
 * The Agents a dispatcher sends through: itself, or those a proxy agent
 * holds (undici keeps them under symbols and exposes neither their stats
 * nor their events).
 */
export function innerAgents(dispatcher: Dispatcher, depth = 0): Agent[] {
  const { Agent, Dispatcher } = dispatcherClasses();
  if (dispatcher instanceof Agent) return [dispatcher];
  if (depth > 2) return [];
  const found = new Set<Agent>();
  for (const key of Object.getOwnPropertySymbols(dispatcher)) {
    const value = (dispatcher as unknown as Record<symbol, unknown>)[key];
    if (value instanceof Dispatcher && value !== dispatcher) for (const a of innerAgents(value, depth + 1)) found.add(a);
  }
  return [...found];
}
