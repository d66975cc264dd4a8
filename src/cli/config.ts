/**
 * The configuration in effect, from three places: flags > config file >
 * environment. With nothing configured anywhere, the CLI uses the embedded
 * model server so that chat works on a fresh machine.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkRuntimeOptions, isParleyError, ParleyError, type ProviderConfig, type ProviderKind, type RuntimeOptions, type TurnControls } from '../index.ts';
import type { ConfigFlags } from './args.ts';

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
  if (flag) return { path: resolve(flag), required: true };
  if (env.PARLEY_CONFIG) return { path: resolve(env.PARLEY_CONFIG), required: true };
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

/** OLLAMA_HOST may be "host:port" or "0.0.0.0" without a scheme, as the ollama CLI accepts it. */
function ollamaUrl(host: string): string {
  let url = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
  const parsed = new URL(url);
  if (parsed.hostname === '0.0.0.0') parsed.hostname = '127.0.0.1';
  if (!parsed.port && !/^[a-z]+:\/\//i.test(host)) parsed.port = '11434';
  url = parsed.toString();
  return url.endsWith('/') ? url.slice(0, -1) : url;
}

/** The providers users already have configured for other tools, in this order of preference. */
function envProviders(env: NodeJS.ProcessEnv): Record<string, ProviderConfig> {
  const out: Record<string, ProviderConfig> = {};
  if (env.OLLAMA_HOST) out.ollama = { kind: 'ollama', baseUrl: ollamaUrl(env.OLLAMA_HOST) };
  if (env.OPENAI_API_KEY || env.OPENAI_BASE_URL) {
    out.openai = { kind: 'openai', baseUrl: env.OPENAI_BASE_URL || 'https://api.openai.com/v1' };
    if (env.OPENAI_API_KEY) out.openai.apiKey = env.OPENAI_API_KEY;
  }
  if (env.OPENROUTER_API_KEY) out.openrouter = { kind: 'openai', baseUrl: 'https://openrouter.ai/api/v1', apiKey: env.OPENROUTER_API_KEY };
  if (env.ANTHROPIC_API_KEY) out.anthropic = { kind: 'anthropic', apiKey: env.ANTHROPIC_API_KEY };
  return out;
}

function parseKind(kind: string | undefined): ProviderKind | undefined {
  if (kind === undefined) return undefined;
  if (!(KINDS as readonly string[]).includes(kind)) throw configError(`--kind must be one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  return kind as ProviderKind;
}

/** --base-url / --kind define the chosen provider, or adjust it when it is already configured. */
function flagProvider(flags: ConfigFlags, existing: ProviderConfig | undefined, env: NodeJS.ProcessEnv): ProviderConfig {
  const kind = parseKind(flags.kind) ?? existing?.kind ?? (flags.baseUrl && /\/v1\/?$/.test(flags.baseUrl) ? 'openai' : 'ollama');
  const config = { ...(existing ?? {}), kind } as ProviderConfig;
  if (flags.baseUrl !== undefined) config.baseUrl = flags.baseUrl;
  if (!existing) {
    const key = kind === 'openai' ? env.OPENAI_API_KEY : kind === 'anthropic' ? env.ANTHROPIC_API_KEY : undefined;
    if (key) config.apiKey = key;
  }
  return config;
}

export function resolveConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const located = configPath(flags.config, env);
  const file = located ? readConfigFile(located.path, located.required) : undefined;

  const providers: Record<string, ProviderConfig> = {};
  const providerSources: Record<string, Source> = {};
  for (const [name, config] of Object.entries(envProviders(env))) {
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
      throw configError(`provider "${provider}" is not configured (no config file, no --base-url, no provider environment variables)`);
    }
    provider = LOCAL;
  } else if (provider === undefined) {
    provider = names[0]!;
  } else if (!(provider in providers)) {
    throw configError(`provider "${provider}" is not configured; configured: ${names.join(', ')}`);
  }

  let model: string;
  let modelSource: Source;
  const chosen = providers[provider];
  if (flags.model !== undefined) [model, modelSource] = [flags.model, 'flag'];
  else if (chosen?.defaultModel !== undefined) [model, modelSource] = [chosen.defaultModel, providerSources[provider]!];
  else if (file?.model !== undefined) [model, modelSource] = [file.model, 'file'];
  else if (env.PARLEY_MODEL) [model, modelSource] = [env.PARLEY_MODEL, 'env'];
  else [model, modelSource] = [chosen ? DEFAULT_MODELS[chosen.kind] ?? EMBEDDED_MODEL : EMBEDDED_MODEL, 'default'];

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
