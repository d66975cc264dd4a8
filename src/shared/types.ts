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
  /**
   * The context window in tokens, sent as `options.num_ctx` on every chat
   * request (Ollama's own default is small: 2,048 to 4,096 tokens, by
   * version). A request's `extra.options.num_ctx` wins.
   * See https://github.com/ollama/ollama/blob/main/docs/api.md
   * @default Ollama's (unset)
   */
  numCtx?: number;
  /**
   * How long Ollama keeps the model loaded after a request: a duration
   * string ("10m", "24h"), seconds as a number, 0 to unload at once, or -1
   * to keep it loaded. Sent as `keep_alive`. @default Ollama's (5 minutes)
   */
  keepAlive?: string | number;
  /**
   * Any other Ollama model options sent with every chat request, e.g.
   * `{ num_gpu: 99, num_thread: 8, repeat_penalty: 1.1 }` (see Ollama's
   * Modelfile parameters). Below everything else: numCtx, the request's
   * own fields (temperature, maxTokens...) and its `extra.options` win.
   * @default none
   */
  options?: Record<string, string | number | boolean | string[]>;
}
export interface OpenAIProviderConfig extends ProviderConfigBase {
  kind: 'openai';
  baseUrl: string;
  /**
   * Which field carries `maxTokens`. OpenAI's reasoning models (o-series,
   * gpt-5) refuse `max_tokens` and take `max_completion_tokens`, which
   * every current OpenAI model accepts; most compatible servers (vLLM,
   * llama.cpp, LM Studio, older Azure deployments) know only `max_tokens`.
   * @default 'max_completion_tokens' for api.openai.com, else 'max_tokens'
   */
  maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /**
   * Send `stream_options: { include_usage: true }` with streams, so the last
   * chunk carries token usage. Some servers refuse the field (Mistral with
   * 422, some Azure and Databricks deployments with 400): set false for
   * them. Left unset, a 400/422 that names `stream_options` is retried once
   * without it, and the worker remembers that for this provider.
   * @default true
   */
  streamOptions?: boolean;
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
  /**
   * How `responseFormat: { type: 'json-schema' }` is sent. 'native': the
   * Messages API's `output_config.format` (structured outputs, GA on
   * Claude 4.5 and later models); 'tool': a forced tool call whose input is
   * the object, for older models and gateways without structured outputs.
   * `{ type: 'json' }` (no schema) always goes as a forced tool, since the
   * native field needs a schema.
   * See https://docs.claude.com/en/docs/build-with-claude/structured-outputs
   * @default 'native'
   */
  structuredOutput?: 'native' | 'tool';
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

/**
 * Which tools the model may call: 'auto' (it decides), 'none' (answer in
 * text), 'required' (call at least one), or `{ name }` (call that tool,
 * which must be in `tools`). Ollama can express only 'auto' and 'none'
 * (tools left out); the rest is INVALID_REQUEST there.
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * How much the model thinks before it answers. Mapped to OpenAI's
 * `reasoning_effort` (effort; enabled: false sends 'none'), Anthropic's
 * `thinking` (budget_tokens: budgetTokens, else 1,024 / 4,096 / 16,384 for
 * low / medium / high; enabled: false sends `type: 'disabled'`) and Ollama's
 * `think` (true / false, or the effort level). A field a protocol cannot
 * express (budgetTokens for OpenAI and Ollama) is INVALID_REQUEST.
 */
export interface ReasoningControls {
  effort?: 'low' | 'medium' | 'high';
  /** Anthropic only: tokens the model may spend thinking, at least 1,024. */
  budgetTokens?: number;
  /** false turns thinking off; true turns it on at the provider's default effort. */
  enabled?: boolean;
}

/**
 * The interface Standard Schema libraries share (zod 4, valibot, arktype:
 * https://standardschema.dev), with its JSON Schema converter (Standard
 * JSON Schema). Such a schema holds functions, so it never crosses to the
 * worker: the host converts it to JSON Schema and validates the reply with
 * it. valibot needs its `toStandardJsonSchema()` wrapper from
 * @valibot/to-json-schema for the converter.
 */
export interface StandardSchema<Output = unknown> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly jsonSchema?: { readonly input: (options: { target: string }) => Record<string, unknown> };
    readonly types?: { readonly input: unknown; readonly output: Output } | undefined;
  };
}

/** The value a Standard Schema's validate() gives, as its library types it (`unknown` for a JSON Schema). */
export type InferOutput<S> = S extends { readonly '~standard': { readonly types?: infer T } } ? (NonNullable<T> extends { readonly output: infer O } ? O : unknown) : unknown;

/** A chat input whose responseFormat is a Standard Schema: chat() then types `result.object` from it. */
export type StructuredChatInput<S extends StandardSchema> = ChatInput & { responseFormat: { type: 'json-schema'; schema: S; name?: string; strict?: boolean } };

export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> };

/**
 * Structured output: the reply must be JSON (`json`), or JSON that fits a
 * schema (`json-schema`), validated on the host (ajv for a JSON Schema, the
 * library's own validate for a Standard Schema). The value lands in
 * `result.object`; a reply that is not valid JSON or does not fit is
 * ParleyError INVALID_OUTPUT. Sent as OpenAI's `response_format`, Ollama's
 * `format`, Anthropic's `output_config.format` or a forced tool (see
 * AnthropicProviderConfig.structuredOutput).
 */
export type ResponseFormat =
  | { type: 'json' }
  | {
      type: 'json-schema';
      /** A JSON Schema object, or a Standard Schema (zod 4, valibot, arktype). */
      schema: Record<string, unknown> | StandardSchema;
      /** The schema's name, as OpenAI's `json_schema.name` and the forced tool's name. @default 'response' */
      name?: string;
      /** OpenAI's `json_schema.strict` (constrained decoding; the schema must then list every property as required). @default unset */
      strict?: boolean;
    };

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
  toolChoice?: ToolChoice;
  /** false: at most one tool call per reply (OpenAI `parallel_tool_calls`, Anthropic `disable_parallel_tool_use`). @default the provider's (parallel allowed) */
  parallelToolCalls?: boolean;
  reasoning?: ReasoningControls;
  responseFormat?: ResponseFormat;
  /**
   * Provider-specific fields, merged deeply into the request body parley
   * built: objects are merged key by key, anything else (arrays, strings,
   * numbers, null) replaces what was there. So Ollama's
   * `{ options: { num_ctx: 8192 } }` keeps the `options.temperature` that
   * `temperature` set. Plain JSON data only: no functions, symbols, BigInts,
   * cycles, or class instances (INVALID_REQUEST naming the path).
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
  /** With `responseFormat`: the reply parsed as JSON and validated (a Standard Schema's output value). */
  object?: unknown;
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
  /** With `responseFormat`: the JSON received so far, parsed best-effort (not validated); the validated value is `done`'s `result.object`. */
  | { type: 'object'; object: unknown }
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
