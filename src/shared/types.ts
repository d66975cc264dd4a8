/**
 * The public shapes of parley: requests, results, stream events and provider
 * configuration. Types only; shared by the host thread and the provider worker.
 */

import type { ErrorCode } from './errors.ts';

export type ProviderKind = 'ollama' | 'openai' | 'anthropic';

/** The fields every provider kind takes; each kind narrows some of them (see ProviderConfig). */
export interface ProviderConfigBase {
  baseUrl?: string;
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
export interface AnthropicProviderConfig extends ProviderConfigBase {
  kind: 'anthropic';
  apiKey: string;
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

/**
 * Binary data of a part: bytes (a `Uint8Array`, including a Node `Buffer`,
 * or an `ArrayBuffer`), or a base64 string (no `data:` prefix). Bytes are
 * copied to the worker by structured clone, never transferred: the caller's
 * own copy stays usable. Base64 is encoded in the worker.
 */
export type PartData = Uint8Array | ArrayBuffer | string;

export interface TextPart {
  type: 'text';
  text: string;
}

/**
 * An image: either `url` (http(s) or a `data:` URL) or `data` with its
 * `mediaType` (image/png, image/jpeg, image/gif or image/webp). At most
 * 20 MiB of bytes. Ollama takes bytes only: an image `url` sent to an Ollama
 * provider is INVALID_REQUEST.
 */
export interface ImagePart {
  type: 'image';
  url?: string;
  data?: PartData;
  mediaType?: string;
}

/**
 * A document (PDF): either `url` or `data`, with `mediaType`
 * 'application/pdf'. At most 32 MiB. OpenAI-compatible servers and
 * Anthropic take it; Ollama does not (INVALID_REQUEST).
 */
export interface DocumentPart {
  type: 'document';
  url?: string;
  data?: PartData;
  mediaType: 'application/pdf';
  /** A file name shown to the model (OpenAI's `filename`, Anthropic's `title`). */
  name?: string;
}

export type ContentPart = TextPart | ImagePart | DocumentPart;

/**
 * A reasoning block as the provider sent it, kept so it can be sent back
 * unchanged: Anthropic refuses the turn after a tool call unless the
 * assistant turn carries its thinking block with its signature
 * (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks).
 * `redacted-thinking` is Anthropic's encrypted `redacted_thinking` block.
 */
export type ReasoningBlock =
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'redacted-thinking'; data: string };

export interface Message {
  role: Role;
  /** Text, or parts (text, image, document) on user messages. */
  content: string | ContentPart[];
  /** On assistant messages: the reasoning blocks of the reply, sent back as received. */
  reasoningBlocks?: ReasoningBlock[];
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

/**
 * Token counts in one shape for every provider (OpenTelemetry's gen_ai.usage
 * terms). `inputTokens` counts every input token, cached ones and cache
 * writes included (for Anthropic: input_tokens + cache_read_input_tokens +
 * cache_creation_input_tokens), so the figure means the same everywhere.
 */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  /** The provider's total, else input + output. */
  totalTokens?: number;
  /** Input tokens read from the provider's prompt cache (OpenAI prompt_tokens_details.cached_tokens, Anthropic cache_read_input_tokens). */
  cachedInputTokens?: number;
  /** Input tokens written to the prompt cache (Anthropic cache_creation_input_tokens). */
  cacheWriteTokens?: number;
  /** Output tokens spent on reasoning (OpenAI completion_tokens_details.reasoning_tokens). */
  reasoningTokens?: number;
  /** The provider's own usage object(s), merged as they came (including vendor fields such as x_groq.usage). */
  raw?: Record<string, unknown>;
}

/**
 * Why a reply ended, in one vocabulary for every provider; the provider's
 * own word is in `rawFinishReason`.
 * - `stop`: the model finished (or hit a stop sequence)
 * - `length`: the token cap (or the context window) cut it
 * - `tool-calls`: it asks for tool calls (also when Ollama says "stop")
 * - `content-filter`: a provider filter cut or withheld the reply
 * - `refusal`: the model refused; the text is in `refusal`
 * - `error`: the provider ended the reply with an error reason
 * - `other`: any other reason (e.g. Anthropic's pause_turn)
 */
export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'refusal' | 'error' | 'other';

export interface ChatResult {
  content: string;
  finishReason: FinishReason;
  /** The provider's own finish reason (finish_reason, stop_reason, done_reason), when it sent one. */
  rawFinishReason?: string;
  model: string;
  provider: string;
  usage?: Usage;
  toolCalls?: ToolCall[];
  /** All reasoning text, joined. */
  reasoning?: string;
  /** Reasoning blocks with their signatures (Anthropic), to send back in the assistant message. */
  reasoningBlocks?: ReasoningBlock[];
  /** The model's refusal text (OpenAI `refusal`), with finishReason 'refusal'. */
  refusal?: string;
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
  /** A piece of the model's refusal (OpenAI `delta.refusal`); these concatenate to `result.refusal`. */
  | { type: 'refusal'; text: string }
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
