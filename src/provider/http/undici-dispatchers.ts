/**
 * undici's dispatcher classes, loaded without the rest of undici.
 *
 * Why: importing 'undici' evaluates all of it (fetch, WebSocket,
 * EventSource, cookies, the mock and cache layers), and its cookies module
 * reads the global `Headers`, which makes Node load its own bundled copy of
 * undici as well: about 110 ms of every worker's start on the 2-core
 * reference machine, most of a first reply. The worker needs only Agent,
 * ProxyAgent, EnvHttpProxyAgent and their Dispatcher base; their files load
 * in about 40 ms.
 *
 * undici's index.js installs its API methods (request, stream, pipeline,
 * upgrade, connect) on Dispatcher.prototype, and ProxyAgent tunnels with
 * `Client#connect`: so this installs them too, as index.js does.
 *
 * The paths are undici's own files (the package has no exports map, so they
 * are reachable) but not its public face: if any is missing, as a future
 * undici could move them, the whole package is loaded instead. They are
 * string-literal `import()`s so that a host's bundler (esbuild, webpack)
 * sees and bundles them with parley/worker, as it did `import 'undici'`.
 * test/undici-dispatchers.test.ts checks that these are the very classes
 * undici's index exports, so an upgrade that moves them fails there first.
 */
import type * as Undici from 'undici';

export interface DispatcherClasses {
  Agent: typeof Undici.Agent;
  Dispatcher: typeof Undici.Dispatcher;
  EnvHttpProxyAgent: typeof Undici.EnvHttpProxyAgent;
  ProxyAgent: typeof Undici.ProxyAgent;
  /** 'parts': from the files above; 'package': the whole of undici (a path was missing). */
  loadedFrom: 'parts' | 'package';
}

async function loadParts(): Promise<DispatcherClasses> {
  const [dispatcher, agent, envHttpProxyAgent, proxyAgent, api] = await Promise.all([
    import('undici/lib/dispatcher/dispatcher.js'),
    import('undici/lib/dispatcher/agent.js'),
    import('undici/lib/dispatcher/env-http-proxy-agent.js'),
    import('undici/lib/dispatcher/proxy-agent.js'),
    import('undici/lib/api/index.js'),
  ]);
  const classes: DispatcherClasses = {
    Agent: agent.default,
    Dispatcher: dispatcher.default,
    EnvHttpProxyAgent: envHttpProxyAgent.default,
    ProxyAgent: proxyAgent.default,
    loadedFrom: 'parts',
  };
  if ([classes.Agent, classes.Dispatcher, classes.EnvHttpProxyAgent, classes.ProxyAgent].some((c) => typeof c !== 'function') || typeof api.default?.connect !== 'function') {
    throw new Error('not the dispatcher classes of undici 7');
  }
  Object.assign(classes.Dispatcher.prototype, api.default);
  return classes;
}

async function loadPackage(): Promise<DispatcherClasses> {
  const undici = await import('undici');
  return { Agent: undici.Agent, Dispatcher: undici.Dispatcher, EnvHttpProxyAgent: undici.EnvHttpProxyAgent, ProxyAgent: undici.ProxyAgent, loadedFrom: 'package' };
}

let loading: Promise<DispatcherClasses> | undefined;
let loaded: DispatcherClasses | undefined;

/**
 * Loads the classes once per thread; the worker entry awaits it before it
 * builds a ProviderService. Rejects only if undici cannot be loaded at all.
 */
export function loadDispatcherClasses(): Promise<DispatcherClasses> {
  loading ??= loadParts()
    .catch(loadPackage)
    .then((classes) => (loaded = classes));
  return loading;
}

/** The loaded classes. Throws if loadDispatcherClasses() has not resolved yet: a bug in the worker's start. */
export function dispatcherClasses(): DispatcherClasses {
  if (!loaded) throw new Error("undici's dispatcher classes are used before loadDispatcherClasses() resolved");
  return loaded;
}
