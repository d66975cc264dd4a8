/**
 * The public shapes of parley: requests, results, stream events and provider
 * configuration. Types only; shared by the host thread and the provider worker.
 */

import type { ErrorCode } from './errors.ts';

export type ProviderKind = 'ollama' | 'openai' | 'anthropic';

/** The fields every provider kind takes; each kind narrows some of them (see ProviderConfig). */
export interface ProviderConfigBase {
  /** Where the provider is reached: an http(s) URL without credentials or fragment; a query string is kept on every request. Defaults per kind (see the README's provider table). */
  baseUrl?: string;
  /** Sent as `Authorization: Bearer <apiKey>` (ollama, openai) or `x-api-key` (anthropic). A secret: never in an error, stats, event or log. */
  apiKey?: string;
  /** Extra headers sent with every request (e.g. OpenRouter's HTTP-Referer). */
  headers?: Record<string, string>;
  /** Model used when a request names none. */
  defaultModel?: string;
  /**
   * The HTTP(S) proxy for this provider, e.g. "http://user:pass@proxy.corp:3128";
   * its credentials are secrets. `false`: connect directly, whatever the
   * environment says. @default the runtime's `proxy`, else HTTPS_PROXY /
   * HTTP_PROXY / NO_PROXY (either case); loopback origins are never proxied
   * through the environment's proxy
   */
  proxy?: string | false;
  /**
   * PEM certificate(s) trusted for this provider's TLS (and its proxy's), on
   * top of Node's roots and NODE_EXTRA_CA_CERTS: an internal gateway's CA, or
   * an inspecting proxy's. @default Node's trust store only
   */
  ca?: string;
}

export interface OllamaProviderConfig extends ProviderConfigBase {
  kind: 'ollama';
}
export interface OpenAIProviderConfig extends ProviderConfigBase {
  kind: 'openai';
  baseUrl: string;
}
/**
 * Anthropic takes an API key (sent as `x-api-key`) or an auth token (sent as
 * `Authorization: Bearer`, what gateways in front of Anthropic use): exactly
 * one of the two, as Anthropic's own SDK takes its `apiKey` and `authToken`
 * options (https://github.com/anthropics/anthropic-sdk-typescript, client.ts).
 */
export interface AnthropicProviderConfig extends ProviderConfigBase {
  kind: 'anthropic';
  /** Sent as the `x-api-key` header. Required unless `authToken` is set; CONFIG when both are. */
  apiKey?: string;
  /** Sent as `Authorization: Bearer <authToken>`; a secret, redacted like a key. Required unless `apiKey` is set. */
  authToken?: string;
  /** Value of the anthropic-version header. @default '2023-06-01' */
  version?: string;
}

export type ProviderConfig = OllamaProviderConfig | OpenAIProviderConfig | AnthropicProviderConfig;

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export interface ToolCall {
  id: string;
  name: string;
  /** The call's arguments as a JSON string, whatever the provider sent. */
  arguments: string;
}

export interface Message {
  role: Role;
  content: string;
  /** On assistant messages: the tool calls the model made. */
  toolCalls?: ToolCall[];
  /** On tool messages: the id of the call this message answers. */
  toolCallId?: string;
  /** On tool messages: the tool's name (Ollama wants it). */
  name?: string;
}

export interface ToolSpec {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. */
  parameters?: Record<string, unknown>;
}

export interface ChatRequest {
  /** A provider name, or an ordered list to fall back through. */
  provider?: string | string[];
  model: string;
  messages: Message[];
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  stop?: string[];
  seed?: number;
  tools?: ToolSpec[];
  /**
   * Provider-specific fields, merged into the request body as they are
   * (e.g. `{ top_k: 40 }`, Ollama's `{ options: { num_ctx: 8192 } }`). Plain
   * JSON data only: no functions, symbols, BigInts, cycles, or class
   * instances (INVALID_REQUEST naming the path).
   */
  extra?: Record<string, unknown>;
}

/**
 * What runtime.chat() and runtime.stream() take: a ChatRequest whose model
 * may be left out, for the provider's `defaultModel` (INVALID_REQUEST when
 * it has none). With a fallback list, each provider tried uses its own.
 */
export type ChatInput = Omit<ChatRequest, 'model'> & { model?: string };

export interface CallOptions {
  /** Deadline of the whole call: connect, headers and body. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
}

export interface ChatResult {
  content: string;
  finishReason: string;
  model: string;
  provider: string;
  usage?: Usage;
  toolCalls?: ToolCall[];
  reasoning?: string;
}

/** One retry of a provider call: why the attempt before it failed, and how long the worker waited. */
export interface RetryRecord {
  code: ErrorCode;
  /** The HTTP status of the failed attempt, when there was one. */
  status?: number;
  /** ms waited before the next attempt (0 for the free stale-socket retry). */
  delayMs: number;
}

/** How one provider call went at the HTTP level, as its worker saw it. */
export interface CallReport {
  /** HTTP attempts made (1 when there was no retry). */
  attempts: number;
  retries: RetryRecord[];
  /** The provider's request id (x-request-id or request-id) of the last response. */
  requestId?: string;
}

export type StreamEvent =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'tool_call'; toolCall: ToolCall }
  | { type: 'done'; result: ChatResult };

export interface ModelInfo {
  id: string;
  ownedBy?: string;
  created?: number;
}

export interface HealthReport {
  provider: string;
  ok: boolean;
  latencyMs: number;
  error?: { code: string; message: string; status?: number };
}
