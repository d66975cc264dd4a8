/**
 * The long-lived HTTP sessions: one per provider, its dispatcher (an undici
 * Agent, or a proxy agent, dispatcher.ts) created when the worker starts or
 * when live settings add or change the provider, and closed by shutdown or
 * once the settings that made it are gone and its last call has ended. This
 * is the fix for "Event loop is closed" on the second message: the owner of
 * the sockets outlives every call.
 */
import type { ProviderConfig } from '../../shared/types.ts';
import type { HttpSettings } from '../../shared/protocol.ts';
import { createAdapter } from '../protocols/adapters.ts';
import type { Adapter } from '../protocols/adapter.ts';
import { createDispatcher, innerAgents, type CountingAgent } from './dispatcher.ts';

export type { CountingAgent };

/** One provider's session in a worker: its protocol adapter, its dispatcher, and what it has served. */
export interface ProviderSession {
  name: string;
  /** The config it was built from, to tell whether new settings change it. */
  config: ProviderConfig;
  adapter: Adapter;
  agent: CountingAgent;
  /** Which connections the agent makes (origin, proxy, trust): sessions that agree share one agent. */
  route: string;
  origin: string;
  /** The proxy requests may go through, named in errors. */
  proxy: string | undefined;
  requests: number;
  retries: number;
  errors: number;
}

/**
 * A session for `config`; its agent is that of a session in `current`
 * making the same connections, if there is one, else a new one.
 */
export function createSession(name: string, config: ProviderConfig, settings: HttpSettings, current: readonly ProviderSession[] = []): ProviderSession {
  const adapter = createAdapter({ name, config });
  const origin = new URL(adapter.healthRequest().url).origin;
  const route = JSON.stringify([origin, config.proxy, config.ca]);
  // A new key or header keeps the kept-alive sockets; a new origin, proxy or trust does not.
  const shared = current.find((s) => s.route === route);
  const { dispatcher, proxy } = shared ? { dispatcher: shared.agent, proxy: shared.proxy } : createDispatcher(settings, config, origin);
  return { name, config, adapter, agent: dispatcher, route, origin, proxy, requests: 0, retries: 0, errors: 0 };
}

export interface AgentFigures {
  origin: string;
  connected: number;
  free: number;
  running: number;
  pending: number;
}

/** undici's per-origin stats, summed over the Agents the dispatcher sends through; one that never dispatched has none. */
export function agentFigures(agent: CountingAgent, origin: string): AgentFigures {
  const out: AgentFigures = { origin, connected: 0, free: 0, running: 0, pending: 0 };
  for (const inner of innerAgents(agent)) {
    const own = ((inner as unknown as { stats?: Record<string, Partial<AgentFigures>> }).stats ?? {})[origin] ?? {};
    out.connected += own.connected ?? 0;
    out.free += own.free ?? 0;
    out.running += own.running ?? 0;
    out.pending += own.pending ?? 0;
  }
  // Requests waiting for a socket wait in parley's gate, not undici's queue.
  out.pending += agent.gate?.waiting ?? 0;
  return out;
}
