/**
 * The OpenAI-compatible chat completions protocol (OpenAI, OpenRouter, vLLM,
 * LM Studio, llama.cpp server): JSON requests, SSE streams ended by
 * `data: [DONE]`, tool calls streamed as index-keyed fragments.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ChatRequest, ChatResult, FinishReason, Message, ModelInfo, StreamEvent } from '../../shared/types.ts';
import type { Adapter, HttpRequestSpec, ProviderContext, StreamParser } from './adapter.ts';
import { openaiControls } from './controls-mapping.ts';
import { mergeExtra } from './extra-merge.ts';
import { bearerAuth, RequestBuilder } from './request-builder.ts';
import { SseDecoder, type SseEvent } from './sse-decoder.ts';
import { StreamParserBase } from './stream-parser-base.ts';
import { contentText } from '../../shared/content.ts';
import { openaiPart } from './content-parts.ts';
import { ReplyAssembler } from './reply-assembler.ts';
import { addFunctionFragment, ToolCallAssembler, ToolCallKeys } from './tool-call-assembler.ts';
import { openaiUsageOf } from './usage.ts';
import {
  asNumber,
  asString,
  badResponse,
  errorBodyMessage,
  errorFieldText,
  excerpt,
  functionTools,
  isObject,
  modelList,
  parseJson,
  redact,
  streamError,
  type JsonObject,
} from './wire-format.ts';

/** OpenAI's own API: its reasoning models refuse max_tokens, and every current model takes max_completion_tokens. */
const OPENAI_HOST = 'api.openai.com';

/** finish_reason as OpenAI and compatible servers send it (https://platform.openai.com/docs/api-reference/chat/object). */
function finishReason(raw: string | undefined): FinishReason {
  switch (raw) {
    case undefined:
    case 'stop':
    case 'end_turn': // some gateways pass Anthropic's word through
      return 'stop';
    case 'length':
    case 'max_tokens':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    case 'error':
      return 'error';
    default:
      return 'other';
  }
}

export class OpenAIAdapter implements Adapter {
  readonly kind = 'openai';
  readonly #ctx: ProviderContext;
  readonly #requests: RequestBuilder;
  readonly #maxTokensField: string;
  /** Whether streams carry stream_options: the config's say, until the provider refused the field once. */
  #streamOptions: boolean;

  constructor(ctx: ProviderContext) {
    const baseUrl = ctx.config.baseUrl;
    if (typeof baseUrl !== 'string' || baseUrl === '') {
      throw new ParleyError('CONFIG', `providers.${ctx.name}.baseUrl must be a URL such as "https://api.openai.com/v1" (got ${String(baseUrl)})`);
    }
    this.#ctx = ctx;
    this.#requests = new RequestBuilder(ctx, baseUrl, bearerAuth);
    const config = ctx.config.kind === 'openai' ? ctx.config : undefined;
    this.#maxTokensField = config?.maxTokensField ?? (new URL(baseUrl).hostname === OPENAI_HOST ? 'max_completion_tokens' : 'max_tokens');
    this.#streamOptions = config?.streamOptions ?? true;
  }

  chatRequest(req: ChatRequest, stream: boolean): HttpRequestSpec {
    const body: JsonObject = { model: req.model, messages: req.messages.map(toWireMessage), stream };
    if (stream && this.#streamOptions) body.stream_options = { include_usage: true };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.maxTokens !== undefined) body[this.#maxTokensField] = req.maxTokens;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.stop !== undefined) body.stop = req.stop;
    if (req.seed !== undefined) body.seed = req.seed;
    if (req.tools !== undefined && req.tools.length > 0) body.tools = functionTools(req.tools);
    openaiControls(req, body);
    mergeExtra(body, req.extra);
    return this.#requests.post('chat/completions', stream ? 'text/event-stream' : 'application/json', body);
  }

  /**
   * A stream refused because of stream_options (Mistral: 422, some Azure and
   * Databricks deployments: 400, their message naming the field), while the
   * config left the field to parley and the request's `extra` did not ask
   * for it: the field is dropped for this provider from now on, and true
   * says to send the request again (rebuilt) once.
   */
  dropRefusedField(err: unknown, req: ChatRequest, stream: boolean): boolean {
    if (!stream || !this.#streamOptions || !(err instanceof ParleyError) || err.code !== 'HTTP') return false;
    if ((err.status !== 400 && err.status !== 422) || !err.message.includes('stream_options')) return false;
    const config = this.#ctx.config;
    if ((config.kind === 'openai' && config.streamOptions === true) || req.extra?.stream_options !== undefined) return false;
    this.#streamOptions = false;
    return true;
  }

  parseChat(body: unknown, req: ChatRequest): ChatResult {
    const provider = this.#ctx.name;
    if (!isObject(body)) throw badResponse(provider, 'chat reply is not a JSON object', body);
    if (body.error !== undefined && body.error !== null) throw providerError(this.#ctx, body);
    const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
    if (!isObject(choice) || !isObject(choice.message)) throw badResponse(provider, 'chat reply has no choices[0].message', body);
    const message = choice.message;
    const reply = new ReplyAssembler(provider, req.model);
    const ignored: StreamEvent[] = [];
    reply.setModel(body.model);
    readMessage(message, reply, ignored);
    if (Array.isArray(message.tool_calls)) {
      const calls = new ToolCallAssembler();
      const keys = new ToolCallKeys();
      message.tool_calls.forEach((call, i) => addFunctionFragment(calls, keys, call, i));
      for (const call of calls.completeAll()) reply.addToolCall(call, ignored);
    }
    reply.setFinishReason(choice.finish_reason);
    reply.addUsage(openaiUsageOf(body));
    return reply.result(finishReason);
  }

  streamParser(req: ChatRequest): StreamParser {
    return new OpenAIStreamParser(this.#ctx, req);
  }

  modelsRequest(): HttpRequestSpec {
    return this.#requests.get('models');
  }

  parseModels(body: unknown): ModelInfo[] {
    return modelList(this.#ctx.name, body, 'data', toModelInfo);
  }

  healthRequest(): HttpRequestSpec {
    return this.modelsRequest();
  }

  errorMessage(status: number, bodyText: string): string {
    return errorBodyMessage(this.#ctx, status, bodyText, errorText);
  }
}

class OpenAIStreamParser extends StreamParserBase<SseEvent> {
  readonly #calls = new ToolCallAssembler();
  readonly #keys = new ToolCallKeys();

  constructor(ctx: ProviderContext, req: ChatRequest) {
    super(ctx, req, { decoder: new SseDecoder(), endMarker: 'data: [DONE]', finish: finishReason });
  }

  protected override read(sse: SseEvent, events: StreamEvent[]): boolean {
    // An `error:` field (older llama.cpp) or an `event: error` is the
    // provider's failure, whatever its data holds, even a [DONE] after it.
    if (sse.error !== undefined) throw streamError(this.ctx, sse.error, (body) => providerError(this.ctx, body));
    if (sse.event === 'error') throw streamError(this.ctx, sse.data, (body) => providerError(this.ctx, body));
    if (sse.data === '[DONE]') {
      this.#closeToolCalls(events);
      return true;
    }
    const chunk = parseJson(sse.data, this.ctx.name);
    if (!isObject(chunk)) throw badResponse(this.ctx.name, 'stream chunk is not a JSON object', chunk);
    if (chunk.error !== undefined && chunk.error !== null) throw providerError(this.ctx, chunk);
    this.reply.setModel(chunk.model);
    this.reply.addUsage(openaiUsageOf(chunk));
    if (!Array.isArray(chunk.choices)) return false;
    for (const choice of chunk.choices) {
      // Only the first choice is followed: parley asks for one (no `n`).
      if (isObject(choice) && (choice.index ?? 0) === 0) this.#choice(choice, events);
    }
    return false;
  }

  #choice(choice: JsonObject, events: StreamEvent[]): void {
    const delta = choice.delta;
    if (isObject(delta)) {
      readMessage(delta, this.reply, events);
      if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls) addFunctionFragment(this.#calls, this.#keys, call);
    }
    if (typeof choice.finish_reason === 'string') {
      this.reply.setFinishReason(choice.finish_reason);
      this.#closeToolCalls(events);
    }
  }

  #closeToolCalls(events: StreamEvent[]): void {
    if (this.#calls.size === 0) return;
    for (const call of this.#calls.completeAll()) this.reply.addToolCall(call, events);
  }
}

/**
 * The reasoning, text and refusal of a message or a delta, under every name
 * compatible servers use: `reasoning_content` (DeepSeek, vLLM, llama.cpp),
 * `reasoning` (OpenRouter, Groq, Ollama's /v1), OpenRouter's
 * `reasoning_details` (read only when no plain reasoning string came with
 * it, since OpenRouter sends both), and `content` as an array of parts
 * (Mistral's thinking models: `thinking` and `text` parts).
 */
function readMessage(message: JsonObject, reply: ReplyAssembler, events: StreamEvent[]): void {
  const reasoning = asString(message.reasoning_content) || asString(message.reasoning);
  if (reasoning) reply.addReasoning(reasoning, events);
  else if (Array.isArray(message.reasoning_details)) {
    for (const detail of message.reasoning_details) {
      if (isObject(detail)) reply.addReasoning(asString(detail.text) ?? asString(detail.summary), events);
    }
  }
  const content = message.content;
  if (Array.isArray(content)) {
    for (const part of content) readContentPart(part, reply, events);
  } else reply.addText(content, events);
  reply.addRefusal(message.refusal, events);
}

/** One part of a content array; parts of types parley does not know (references, citations, …) are skipped. */
function readContentPart(part: unknown, reply: ReplyAssembler, events: StreamEvent[]): void {
  if (typeof part === 'string') return reply.addText(part, events);
  if (!isObject(part)) return;
  switch (part.type) {
    case 'text':
      return reply.addText(part.text, events);
    case 'thinking':
    case 'reasoning': {
      const thinking = part.thinking ?? part.text;
      if (typeof thinking === 'string') return reply.addReasoning(thinking, events);
      if (Array.isArray(thinking)) for (const inner of thinking) if (isObject(inner)) reply.addReasoning(inner.text, events);
      return;
    }
    case 'refusal':
      return reply.addRefusal(part.refusal, events);
  }
}

function toModelInfo(entry: JsonObject): ModelInfo | undefined {
  if (typeof entry.id !== 'string') return undefined;
  const model: ModelInfo = { id: entry.id };
  const ownedBy = asString(entry.owned_by);
  const created = asNumber(entry.created);
  if (ownedBy !== undefined) model.ownedBy = ownedBy;
  if (created !== undefined) model.created = created;
  return model;
}

function toWireMessage(message: Message): JsonObject {
  const text = contentText(message.content);
  if (message.role === 'tool') return { role: 'tool', tool_call_id: message.toolCallId, content: text };
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: text === '' ? null : text,
      tool_calls: message.toolCalls.map((call) => ({
        id: call.id,
        type: 'function',
        function: { name: call.name, arguments: call.arguments },
      })),
    };
  }
  // Parts travel only on user messages; elsewhere their text is the content.
  if (message.role === 'user' && typeof message.content !== 'string') return { role: 'user', content: message.content.map(openaiPart) };
  return { role: message.role, content: text };
}

/** Some compatible servers put their message at the top level instead. */
function errorText(body: JsonObject): string | undefined {
  return errorFieldText(body) ?? asString(body.message);
}


function providerError(ctx: ProviderContext, body: JsonObject): ParleyError {
  const message = errorText(body) ?? excerpt(JSON.stringify(body));
  return new ParleyError('PROVIDER', redact(message, ctx), { provider: ctx.name });
}
