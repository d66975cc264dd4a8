/**
 * The configuration in effect, from three places: flags > config file >
 * environment. With nothing configured anywhere, the CLI uses the embedded
 * model server so that chat works on a fresh machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkRuntimeOptions, isParleyError, ParleyError, providersFromEnv, type ProviderConfig, type ProviderKind, type RuntimeOptions, type TurnControls } from '../index.ts';
import type { ConfigFlags } from './args.ts';
import { userPath } from './paths.ts';

export type Source = 'flag' | 'file' | 'env' | 'default';

export interface CliConfig {
  /** Empty when `embedded`: the provider is made when the server starts. */
  providers: Record<string, ProviderConfig>;
  /** Where each provider was defined. */
  providerSources: Record<string, Source>;
  provider: string;
  model: string;
  system?: string;
  timeoutMs?: number;
  /** The request controls from the flags (--reasoning, --format, --schema, --extra). */
  controls?: TurnControls;
  /** Nothing configured: start the embedded model server and use it as "local". */
  embedded: boolean;
  /** The config file that was read, if any. */
  file?: string;
  sources: { provider: Source; model: Source; system?: Source; timeoutMs?: Source };
  /** Other runtime options from the file (maxRetries, workers, ...), checked by createRuntime. */
  runtime: Omit<RuntimeOptions, 'providers' | 'defaultProvider' | 'timeoutMs'>;
}

/** The provider name used for --base-url without --provider, and for the embedded server. */
export const LOCAL = 'local';
export const EMBEDDED_MODEL = 'parley-echo';

const KINDS: readonly ProviderKind[] = ['ollama', 'openai', 'anthropic'];
const DEFAULT_MODELS: Record<ProviderKind, string> = {
  ollama: 'llama3.2',
  openai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
};
/** Providers from the environment that are OpenAI-compatible but serve other models than OpenAI's. */
const DEFAULT_MODELS_BY_NAME: Record<string, string> = {
  openrouter: 'openai/gpt-4o-mini',
  gemini: 'gemini-2.5-flash',
};
/** What to set for a provider that providersFromEnv would define, said when it is asked for and missing. */
const ENV_HINTS: Record<string, string> = {
  ollama: 'set OLLAMA_HOST (e.g. 127.0.0.1:11434)',
  openai: 'set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)',
  openrouter: 'set OPENROUTER_API_KEY',
  anthropic: 'set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN for a Bearer token; ANTHROPIC_BASE_URL for a gateway)',
  gemini: 'set GEMINI_API_KEY',
};
/** Hosts a server on this machine answers on: plain http is what they speak. */
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;
/** Keys of the file that are the CLI's own, not runtime options. */
const CLI_KEYS = new Set(['providers', 'defaultProvider', 'model', 'system', 'timeoutMs']);
/** The CLI's keys that createRuntime does not take at all. */
const CLI_ONLY_KEYS = ['model', 'system'];

interface ConfigFile {
  providers?: Record<string, ProviderConfig & { apiKeyEnv?: string }>;
  defaultProvider?: string;
  model?: string;
  system?: string;
  timeoutMs?: number;
  [option: string]: unknown;
}

function configError(message: string): ParleyError {
  return new ParleyError('CONFIG', message);
}

/** --config, else $PARLEY_CONFIG, else the per-user file if it exists. */
function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): { path: string; required: boolean } | undefined {
  if (flag) return { path: userPath(flag, env), required: true };
  if (env.PARLEY_CONFIG) return { path: userPath(env.PARLEY_CONFIG, env), required: true };
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return { path: join(base, 'parley', 'config.json'), required: false };
}

function readConfigFile(path: string, required: boolean): ConfigFile | undefined {
  if (!existsSync(path)) {
    if (required) throw configError(`config file ${path} does not exist`);
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw configError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw configError(`config file ${path} must hold a JSON object like { "providers": { ... } }`);
  }
  const file = value as ConfigFile;
  if (file.providers !== undefined && (typeof file.providers !== 'object' || file.providers === null || Array.isArray(file.providers))) {
    throw configError(`config file ${path}: "providers" must be an object of name -> { kind, baseUrl, ... }`);
  }
  for (const key of ['defaultProvider', 'model', 'system'] as const) {
    if (file[key] !== undefined && typeof file[key] !== 'string') throw configError(`config file ${path}: "${key}" must be a string`);
  }
  return file;
}

/** File providers may name the environment variable holding their key instead of the key itself. */
function fileProviders(file: ConfigFile, path: string, env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
  const out: Record<string, ProviderConfig> = {};
  for (const [name, entry] of Object.entries(file.providers ?? {})) {
    if (typeof entry !== 'object' || entry === null) throw configError(`config file ${path}: providers.${name} must be an object with a "kind"`);
    const { apiKeyEnv, ...config } = entry;
    if (apiKeyEnv !== undefined) {
      const key = env[apiKeyEnv];
      if (!key) throw configError(`config file ${path}: providers.${name}.apiKeyEnv names ${apiKeyEnv}, which is not set`);
      config.apiKey = key;
    }
    out[name] = config as ProviderConfig;
  }
  return out;
}

/**
 * The file's own providers and runtime options, checked as createRuntime
 * will check them, so that a mistyped key is refused (with the nearest
 * known one) before anything starts, `parley config` included.
 */
function checkFile(file: ConfigFile, path: string, providers: Record<string, ProviderConfig>): void {
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(file)) if (key !== 'providers' && key !== 'defaultProvider' && !CLI_ONLY_KEYS.includes(key)) options[key] = value;
  // Without providers of its own the file still has options to check; a stand-in provider lets them be.
  options.providers = Object.keys(providers).length > 0 ? providers : { [LOCAL]: { kind: 'ollama' } };
  try {
    checkRuntimeOptions(options as unknown as RuntimeOptions, CLI_ONLY_KEYS);
  } catch (err) {
    if (isParleyError(err) && err.code === 'CONFIG') throw configError(`config file ${path}: ${err.message.replace(/^options\./, '')}`);
    throw err;
  }
}

function parseKind(kind: string | undefined): ProviderKind | undefined {
  if (kind === undefined) return undefined;
  if (!(KINDS as readonly string[]).includes(kind)) throw configError(`--kind must be one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind as ProviderKind;
}

/**
 * --base-url as typed. Without a scheme, a loopback host or a host:port is
 * a local server, which speaks plain http (as OLLAMA_HOST is read); any
 * other host is refused with what to write, as guessing http would send a
 * key in the clear and guessing https may be wrong.
 */
export function flagBaseUrl(value: string): string {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  const host = /^(\[[^\]]*\]|[^/:?#]*)(:\d+)?/.exec(value);
  if (host && (LOOPBACK.test(host[1]!) || (host[1] !== '' && host[2] !== undefined))) return `http://${value}`;
  throw configError(`--base-url needs a scheme: write http://${value} or https://${value}`);
}

/**
 * --base-url / --kind define the chosen provider, or adjust it when it is
 * already configured. A new one starts from what the environment says for
 * its kind (OPENAI_API_KEY, ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN /
 * ANTHROPIC_BASE_URL, OLLAMA_HOST), with --base-url over the environment's URL.
 */
function flagProvider(flags: ConfigFlags, existing: ProviderConfig | undefined, env: NodeJS.ProcessEnv): ProviderConfig {
  const baseUrl = flags.baseUrl === undefined ? undefined : flagBaseUrl(flags.baseUrl);
  const kind = parseKind(flags.kind) ?? existing?.kind ?? (baseUrl && /\/v1\/?$/.test(baseUrl) ? 'openai' : 'ollama');
  const fromEnv = providersFromEnv(env)[kind];
  const config = { ...(existing ?? (fromEnv?.kind === kind ? fromEnv : {})), kind } as ProviderConfig;
  if (baseUrl !== undefined) config.baseUrl = baseUrl;
  if (config.kind === 'anthropic' && config.apiKey === undefined && config.authToken === undefined) {
    throw configError(`--kind anthropic needs a key: ${ENV_HINTS.anthropic}`);
  }
  if (config.kind === 'openai' && config.baseUrl === undefined) {
    throw configError(`--kind openai needs --base-url URL (e.g. http://127.0.0.1:1234/v1), or ${ENV_HINTS.openai}`);
  }
  return config;
}

export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const located = configPath(flags.config, env);
  const file = located ? readConfigFile(located.path, located.required) : undefined;

  const providers: Record<string, ProviderConfig> = {};
  const providerSources: Record<string, Source> = {};
  for (const [name, config] of Object.entries(providersFromEnv(env))) {
    providers[name] = config;
    providerSources[name] = 'env';
  }
  if (file) {
    const own = fileProviders(file, located!.path, env);
    checkFile(file, located!.path, own);
    for (const [name, config] of Object.entries(own)) {
      providers[name] = config;
      providerSources[name] = 'file';
    }
  }

  let provider: string | undefined;
  let providerSource: Source = 'default';
  if (flags.provider !== undefined) [provider, providerSource] = [flags.provider, 'flag'];
  else if (file?.defaultProvider !== undefined) [provider, providerSource] = [file.defaultProvider, 'file'];
  else if (env.PARLEY_PROVIDER) [provider, providerSource] = [env.PARLEY_PROVIDER, 'env'];

  if (flags.baseUrl !== undefined || flags.kind !== undefined) {
    const name = provider ?? LOCAL;
    providers[name] = flagProvider(flags, providers[name], env);
    providerSources[name] = 'flag';
    if (provider === undefined) [provider, providerSource] = [name, 'flag'];
  }

  const names = Object.keys(providers);
  const embedded = names.length === 0;
  if (embedded) {
    if (provider !== undefined && provider !== LOCAL) {
      const hint = ENV_HINTS[provider] ? `; ${ENV_HINTS[provider]}` : '';
      throw configError(`provider "${provider}" is not configured (no config file, no --base-url, no provider environment variables)${hint}`);
    }
    provider = LOCAL;
  } else if (provider === undefined) {
    provider = names[0]!;
  } else if (!(provider in providers)) {
    const hint = ENV_HINTS[provider] ? ` (to add it, ${ENV_HINTS[provider]})` : '';
    throw configError(`provider "${provider}" is not configured; configured: ${names.join(', ')}${hint}`);
  }

  let model: string;
  let modelSource: Source;
  const chosen = providers[provider];
  if (flags.model !== undefined) [model, modelSource] = [flags.model, 'flag'];
  else if (chosen?.defaultModel !== undefined) [model, modelSource] = [chosen.defaultModel, providerSources[provider]!];
  else if (file?.model !== undefined) [model, modelSource] = [file.model, 'file'];
  else if (env.PARLEY_MODEL) [model, modelSource] = [env.PARLEY_MODEL, 'env'];
  else [model, modelSource] = [chosen ? (DEFAULT_MODELS_BY_NAME[provider] ?? DEFAULT_MODELS[chosen.kind] ?? EMBEDDED_MODEL) : EMBEDDED_MODEL, 'default'];

  const config: CliConfig = {
    providers,
    providerSources,
    provider,
    model,
    embedded,
    sources: { provider: providerSource, model: modelSource },
    runtime: {},
  };
  if (located && file) config.file = located.path;
  if (flags.controls !== undefined) config.controls = flags.controls;
  if (flags.system !== undefined) [config.system, config.sources.system] = [flags.system, 'flag'];
  else if (file?.system !== undefined) [config.system, config.sources.system] = [file.system, 'file'];
  if (flags.timeoutMs !== undefined) [config.timeoutMs, config.sources.timeoutMs] = [flags.timeoutMs, 'flag'];
  else if (file?.timeoutMs !== undefined) [config.timeoutMs, config.sources.timeoutMs] = [file.timeoutMs, 'file'];
  if (file) {
    const runtime: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(file)) if (!CLI_KEYS.has(key)) runtime[key] = value;
    config.runtime = runtime as CliConfig['runtime'];
  }
  return config;
}
