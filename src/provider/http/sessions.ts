/**
 * The long-lived HTTP sessions: one per provider, its undici Agent created when
 * the worker starts and closed only by shutdown. This is the fix for "Event
 * loop is closed" on the second message: the owner of the sockets outlives
 * every call.
 */
import { Agent } from 'undici';
import type { TransportSettings } from '../../shared/protocol.ts';
import type { Adapter } from '../protocols/adapter.ts';

/** One provider's session in a worker: its protocol adapter, its Agent, and what it has served. */
export interface ProviderSession {
  name: string;
  adapter: Adapter;
  agent: CountingAgent;
  origin: string;
  requests: number;
  retries: number;
  errors: number;
}

/** An Agent that counts the sockets it opens, so an exchange can tell whether its request went out on a kept-alive one. */
export interface CountingAgent extends Agent {
  socketsOpened: number;
}

export function createAgent(settings: TransportSettings): CountingAgent {
  const agent = new Agent({
    connections: settings.connections,
    pipelining: 1,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(settings.keepAliveTimeoutMs, 600_000),
    // Deadlines are parley's (one per call, covering connect, headers and body).
    // undici's hidden 300 s header/body defaults would cut long generations short.
    headersTimeout: 0,
    bodyTimeout: 0,
    connect: { timeout: settings.connectTimeoutMs },
  }) as CountingAgent;
  agent.socketsOpened = 0;
  // undici emits 'connect' before it writes the first request on the new socket.
  agent.on('connect', () => agent.socketsOpened++);
  return agent;
}

export interface AgentFigures {
  origin: string;
  connected: number;
  free: number;
  running: number;
  pending: number;
}

/** undici's per-origin stats, summed; an Agent that never dispatched has none. */
export function agentFigures(agent: Agent, origin: string): AgentFigures {
  const all = (agent as unknown as { stats?: Record<string, Partial<AgentFigures>> }).stats ?? {};
  const own = all[origin] ?? {};
  return {
    origin,
    connected: own.connected ?? 0,
    free: own.free ?? 0,
    running: own.running ?? 0,
    pending: own.pending ?? 0,
  };
}
