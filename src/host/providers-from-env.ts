/**
 * The providers a user already configured for other tools, read from the
 * environment variables those tools' own SDKs and CLIs read, so that a host
 * (and the `parley` CLI) works with what is set without a settings screen.
 * Pure: reads the `env` it is given, no I/O.
 */
import type { AnthropicProviderConfig, ProviderConfig } from '../shared/types.ts';

/** Where OpenAI's SDK sends requests when OPENAI_BASE_URL is unset. */
const OPENAI_BASE_URL = 'https://api.openai.com/v1';
/** OpenRouter's OpenAI-compatible API (https://openrouter.ai/docs/quickstart). */
const OPENROUTER_BASE_URL = 'https://openrouter.ai/api/v1';
/** Gemini's OpenAI-compatible API (https://ai.google.dev/gemini-api/docs/openai). */
const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta/openai/';
/** Ollama's port when OLLAMA_HOST names none and no scheme (as Ollama's own envconfig.Host reads it). */
const OLLAMA_PORT = '11434';

/**
 * OLLAMA_HOST as Ollama itself reads it: "host", "host:port", ":port",
 * "0.0.0.0" or a full URL. Without a scheme, http and port 11434 are meant;
 * a listen-everywhere address (0.0.0.0, ::, empty) is reached on 127.0.0.1.
 * An OLLAMA_HOST that does not parse is passed on as written, so that
 * createRuntime refuses it with CONFIG naming the field.
 */
function ollamaBaseUrl(host: string): string {
  let text = host.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  // A scheme alone ("http://") means Ollama's default host and port.
  if (hasScheme && /^[a-z][a-z0-9+.-]*:\/\/$/i.test(text)) text = `${text}127.0.0.1:${OLLAMA_PORT}`;
  // A bare IPv6 address ("::1") is a host, not host:port: URLs bracket it.
  if (!hasScheme && (text.match(/:/g) ?? []).length > 1 && !text.startsWith('[')) text = `[${text}]`;
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text.startsWith(':') ? `127.0.0.1${text}` : text}`);
  } catch {
    return text;
  }
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]' || url.hostname === '') url.hostname = '127.0.0.1';
  if (!hasScheme && url.port === '') url.port = OLLAMA_PORT;
  const out = url.toString();
  return out.endsWith('/') ? out.slice(0, -1) : out;
}

function read(env: Readonly<Record<string, string | undefined>>, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The providers the environment configures, named after their service, in
 * this order (a host that takes "the first one" prefers a local Ollama):
 *
 * | provider | kind | defined when | from |
 * | --- | --- | --- | --- |
 * | `ollama` | ollama | `OLLAMA_HOST` is set | baseUrl: `OLLAMA_HOST` ("host:port", "host" or ":port" without a scheme means http and, without a port, 11434; 0.0.0.0 is reached on 127.0.0.1) |
 * | `openai` | openai | `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set (a local OpenAI-compatible server needs no key) | apiKey: `OPENAI_API_KEY`; baseUrl: `OPENAI_BASE_URL`, else https://api.openai.com/v1 |
 * | `openrouter` | openai | `OPENROUTER_API_KEY` is set | apiKey: `OPENROUTER_API_KEY`; baseUrl: https://openrouter.ai/api/v1 |
 * | `anthropic` | anthropic | `ANTHROPIC_API_KEY` or `ANTHROPIC_AUTH_TOKEN` is set | apiKey: `ANTHROPIC_API_KEY` (x-api-key), else authToken: `ANTHROPIC_AUTH_TOKEN` (Authorization: Bearer), as Anthropic's SDK reads them; baseUrl: `ANTHROPIC_BASE_URL`, else https://api.anthropic.com |
 * | `gemini` | openai | `GEMINI_API_KEY` is set | apiKey: `GEMINI_API_KEY`; baseUrl: https://generativelanguage.googleapis.com/v1beta/openai/ (Gemini's OpenAI-compatible API) |
 *
 * A variable set to the empty string counts as unset. `ANTHROPIC_BASE_URL`
 * alone defines nothing: Anthropic needs a key or a token. No provider gets
 * a `defaultModel` (no variable names one): pass `model` with each call, or
 * add `defaultModel` to the returned configs. The values are not checked
 * here; `createRuntime` checks them (CONFIG naming the field, never the value).
 *
 * @param env the variables to read. @default process.env
 * @returns provider name -> config, ready for `createRuntime({ providers })`; empty when nothing is set
 * @example
 * const providers = providersFromEnv();
 * const runtime = await createRuntime({ providers, defaultProvider: Object.keys(providers)[0] });
 */
export function providersFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): Record<string, ProviderConfig> {
  const out: Record<string, ProviderConfig> = {};
  const ollamaHost = read(env, 'OLLAMA_HOST');
  if (ollamaHost !== undefined) out.ollama = { kind: 'ollama', baseUrl: ollamaBaseUrl(ollamaHost) };

  const openaiKey = read(env, 'OPENAI_API_KEY');
  const openaiBase = read(env, 'OPENAI_BASE_URL');
  if (openaiKey !== undefined || openaiBase !== undefined) {
    out.openai = { kind: 'openai', baseUrl: openaiBase ?? OPENAI_BASE_URL };
    if (openaiKey !== undefined) out.openai.apiKey = openaiKey;
  }

  const openrouterKey = read(env, 'OPENROUTER_API_KEY');
  if (openrouterKey !== undefined) out.openrouter = { kind: 'openai', baseUrl: OPENROUTER_BASE_URL, apiKey: openrouterKey };

  const anthropicKey = read(env, 'ANTHROPIC_API_KEY');
  const anthropicToken = read(env, 'ANTHROPIC_AUTH_TOKEN');
  if (anthropicKey !== undefined || anthropicToken !== undefined) {
    const anthropic: AnthropicProviderConfig = { kind: 'anthropic' };
    // Both set: the key wins, as in Anthropic's SDK (an anthropic provider takes one credential).
    if (anthropicKey !== undefined) anthropic.apiKey = anthropicKey;
    else anthropic.authToken = anthropicToken;
    const base = read(env, 'ANTHROPIC_BASE_URL');
    if (base !== undefined) anthropic.baseUrl = base;
    out.anthropic = anthropic;
  }

  const geminiKey = read(env, 'GEMINI_API_KEY');
  if (geminiKey !== undefined) out.gemini = { kind: 'openai', baseUrl: GEMINI_BASE_URL, apiKey: geminiKey };
  return out;
}
