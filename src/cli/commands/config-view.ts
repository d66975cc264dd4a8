/**
 * `parley config`: the configuration in effect and where each part came
 * from. Keys are shown as a hint (`sk-…3456`); then the whole output passes
 * through the library's redaction, which takes every other secret out
 * (credential headers, credentials in a baseUrl).
 */
import { redactSecrets, type ProviderConfig } from '../../index.ts';
import { EMBEDDED_MODEL, LOCAL, type CliConfig } from '../config.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';

/** Enough of a key to tell which one it is, never enough to use it: `sk-…3456`. */
function keyHint(key: string): string {
  if (key.length < 16) return '[redacted]';
  const prefix = /^[A-Za-z]+-/.exec(key)?.[0] ?? '';
  return `${prefix}…${key.slice(-4)}`;
}

/** Credential headers and URLs are left to the redaction of the whole output. */
function redactProvider(config: ProviderConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  if (config.apiKey !== undefined) out.apiKey = keyHint(config.apiKey);
  if (config.kind === 'anthropic' && config.authToken !== undefined) out.authToken = keyHint(config.authToken);
  return out;
}

function configView(config: CliConfig): Record<string, unknown> {
  const providers: Record<string, unknown> = {};
  for (const [name, provider] of Object.entries(config.providers)) {
    providers[name] = { ...redactProvider(provider), source: config.providerSources[name] };
  }
  if (config.embedded) providers[LOCAL] = { kind: 'ollama', baseUrl: '(embedded model server, started on demand)', source: 'default' };
  const view: Record<string, unknown> = {
    configFile: config.file ?? null,
    provider: config.provider,
    model: config.model,
    providers,
    sources: config.sources,
  };
  if (config.system !== undefined) view.system = config.system;
  if (config.timeoutMs !== undefined) view.timeoutMs = config.timeoutMs;
  if (Object.keys(config.runtime).length > 0) view.runtime = config.runtime;
  if (config.embedded) view.note = `nothing configured: using the embedded model server (model ${EMBEDDED_MODEL})`;
  return view;
}

function formatView(config: CliConfig): string {
  const lines = [
    `config file   ${config.file ?? '(none)'}`,
    `provider      ${config.provider}  (${config.sources.provider})`,
    `model         ${config.model}  (${config.sources.model})`,
  ];
  if (config.system !== undefined) lines.push(`system        ${JSON.stringify(config.system)}  (${config.sources.system})`);
  if (config.timeoutMs !== undefined) lines.push(`timeout       ${config.timeoutMs} ms  (${config.sources.timeoutMs})`);
  lines.push('providers');
  const view = configView(config).providers as Record<string, Record<string, unknown>>;
  for (const [name, provider] of Object.entries(view)) {
    const { kind, source, ...rest } = provider;
    const details = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
    lines.push(`  ${name.padEnd(12)} ${String(kind).padEnd(10)} ${details.join(' ')}  (${source})`);
  }
  if (Object.keys(config.runtime).length > 0) lines.push(`runtime       ${JSON.stringify(config.runtime)}`);
  return lines.join('\n');
}

export function runConfig(config: CliConfig, io: { output: NodeJS.WriteStream; json: boolean }): ExitCode {
  const text = io.json ? JSON.stringify(configView(config), null, 2) : formatView(config);
  io.output.write(`${redactSecrets(text, config.providers)}\n`);
  return EXIT.OK;
}
