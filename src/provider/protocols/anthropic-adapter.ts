/**
 * Anthropic's Messages API (/v1/messages): typed SSE events ended by
 * `message_stop`, content blocks keyed by index, tool input streamed as
 * partial JSON, system prompt as a top-level field, strict user/assistant
 * alternation (tool results travel in user turns).
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ChatRequest, ChatResult, FinishReason, Message, ModelInfo, ProviderConfig, ReasoningBlock, StreamEvent } from '../../shared/types.ts';
import type { Adapter, HttpRequestSpec, ProviderContext, StreamParser } from './adapter.ts';
import { anthropicControls } from './controls-mapping.ts';
import { mergeExtra } from './extra-merge.ts';
import { RequestBuilder } from './request-builder.ts';
import { SseDecoder, type SseEvent } from './sse-decoder.ts';
import { StreamParserBase } from './stream-parser-base.ts';
import { contentText } from '../../shared/content.ts';
import { anthropicPart } from './content-parts.ts';
import { ReplyAssembler } from './reply-assembler.ts';
import { ToolCallAssembler } from './tool-call-assembler.ts';
import { anthropicUsage } from './usage.ts';
import {
  asNumber,
  asString,
  badResponse,
  errorBodyMessage,
  isObject,
  modelList,
  parseJson,
  parseToolArguments,
  redact,
  streamError,
  type JsonObject,
} from './wire-format.ts';

const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com';
const DEFAULT_VERSION = '2023-06-01';
/** Anthropic requires max_tokens; this is used when the request sets none. */
const DEFAULT_MAX_TOKENS = 4096;

/** stop_reason (https://docs.anthropic.com/en/api/handling-stop-reasons). */
function finishReason(raw: string | undefined): FinishReason {
  switch (raw) {
    case undefined:
    case 'end_turn':
    case 'stop_sequence':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'refusal';
    default:
      return 'other'; // pause_turn and reasons added later
  }
}
const EMPTY_SCHEMA = { type: 'object', properties: {} };
/** Error types that say "try again later" rather than "this request is wrong". */
const RETRYABLE_ERROR_TYPES: ReadonlySet<string> = new Set(['overloaded_error', 'api_error', 'rate_limit_error']);

interface WireTurn {
  role: 'user' | 'assistant';
  content: string | JsonObject[];
}

export class AnthropicAdapter implements Adapter {
  readonly kind = 'anthropic';
  readonly #ctx: ProviderContext;
  readonly #requests: RequestBuilder;

  constructor(ctx: ProviderContext) {
    this.#ctx = ctx;
    this.#requests = new RequestBuilder(ctx, ctx.config.baseUrl || ANTHROPIC_DEFAULT_BASE_URL, anthropicHeaders);
  }

  chatRequest(req: ChatRequest, stream: boolean): HttpRequestSpec {
    const { system, turns } = toWireTurns(req.messages);
    const body: JsonObject = { model: req.model, max_tokens: req.maxTokens ?? DEFAULT_MAX_TOKENS };
    if (system !== undefined) body.system = system;
    body.messages = turns;
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.stop !== undefined) body.stop_sequences = req.stop;
    if (req.tools !== undefined && req.tools.length > 0) {
      body.tools = req.tools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        input_schema: tool.parameters ?? EMPTY_SCHEMA,
      }));
    }
    body.stream = stream;
    if (this.#ctx.config.kind === 'anthropic') anthropicControls(req, body, this.#ctx.config, DEFAULT_MAX_TOKENS);
    mergeExtra(body, req.extra);
    return this.#requests.post('v1/messages', stream ? 'text/event-stream' : 'application/json', body);
  }

  parseChat(body: unknown, req: ChatRequest): ChatResult {
    const ctx = this.#ctx;
    if (!isObject(body)) throw badResponse(ctx.name, 'chat reply is not a JSON object', body);
    if (body.type === 'error' || isObject(body.error)) throw providerError(ctx, body);
    if (!Array.isArray(body.content)) throw badResponse(ctx.name, 'chat reply has no content array', body);
    const reply = new ReplyAssembler(ctx.name, req.model);
    const ignored: StreamEvent[] = [];
    reply.setModel(body.model);
    // Blocks of other types (server tools and their results, …) are skipped; the text around them is kept.
    for (const block of body.content) {
      if (!isObject(block)) continue;
      if (block.type === 'text') reply.addText(block.text, ignored);
      else if (block.type === 'thinking') {
        reply.addReasoning(block.thinking, ignored);
        reply.addReasoningBlock(thinkingBlock(asString(block.thinking) ?? '', asString(block.signature)));
      } else if (block.type === 'redacted_thinking') {
        if (typeof block.data === 'string') reply.addReasoningBlock({ type: 'redacted-thinking', data: block.data });
      } else if (block.type === 'tool_use') {
        reply.addToolCall(
          { id: asString(block.id) ?? '', name: asString(block.name) ?? '', arguments: JSON.stringify(block.input ?? {}) },
          ignored,
        );
      }
    }
    reply.setFinishReason(body.stop_reason);
    reply.addUsage(anthropicUsage(body.usage));
    return reply.result(finishReason);
  }

  streamParser(req: ChatRequest): StreamParser {
    return new AnthropicStreamParser(this.#ctx, req);
  }

  modelsRequest(): HttpRequestSpec {
    return this.#requests.get('v1/models');
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

/** A thinking block being streamed: its text deltas and its signature. */
interface OpenThinking {
  text: string[];
  signature: string;
}

class AnthropicStreamParser extends StreamParserBase<SseEvent> {
  readonly #calls = new ToolCallAssembler();
  readonly #thinking = new Map<number, OpenThinking>();

  constructor(ctx: ProviderContext, req: ChatRequest) {
    super(ctx, req, { decoder: new SseDecoder(), endMarker: 'message_stop', finish: finishReason });
  }

  protected override read(sse: SseEvent, events: StreamEvent[]): boolean {
    if (sse.event === 'error') throw streamError(this.ctx, sse.data, (body) => providerError(this.ctx, body));
    const data = parseJson(sse.data, this.ctx.name);
    if (!isObject(data)) throw badResponse(this.ctx.name, 'stream event is not a JSON object', data);
    // The data repeats the SSE event name as `type`; either one is enough.
    const type = asString(data.type) ?? sse.event;
    switch (type) {
      case 'message_start': {
        const message = isObject(data.message) ? data.message : {};
        this.reply.setModel(message.model);
        this.reply.addUsage(anthropicUsage(message.usage));
        break;
      }
      case 'content_block_start':
        this.#blockStart(data, events);
        break;
      case 'content_block_delta':
        this.#blockDelta(data, events);
        break;
      case 'content_block_stop': {
        const index = asNumber(data.index) ?? -1;
        const call = this.#calls.complete(index);
        if (call !== undefined) this.reply.addToolCall(call, events);
        const thinking = this.#thinking.get(index);
        if (thinking !== undefined) {
          this.#thinking.delete(index);
          this.reply.addReasoningBlock(thinkingBlock(thinking.text.join(''), thinking.signature || undefined));
        }
        break;
      }
      case 'message_delta':
        if (isObject(data.delta)) this.reply.setFinishReason(data.delta.stop_reason);
        // Counts here replace those of message_start; some gateways report input tokens only here.
        this.reply.addUsage(anthropicUsage(data.usage));
        break;
      case 'message_stop':
        return true;
      case 'error':
        throw providerError(this.ctx, data);
      // 'ping' and event types added later are ignored, as Anthropic asks.
    }
    return false;
  }

  #blockStart(data: JsonObject, events: StreamEvent[]): void {
    const block = data.content_block;
    if (!isObject(block)) return;
    const index = asNumber(data.index) ?? -1;
    if (block.type === 'text') this.reply.addText(block.text, events);
    else if (block.type === 'thinking') {
      const text = asString(block.thinking) ?? '';
      this.reply.addReasoning(text, events);
      this.#thinking.set(index, { text: text === '' ? [] : [text], signature: asString(block.signature) ?? '' });
    } else if (block.type === 'redacted_thinking') {
      if (typeof block.data === 'string') this.reply.addReasoningBlock({ type: 'redacted-thinking', data: block.data });
    } else if (block.type === 'tool_use') {
      // Some servers send the whole input here and no input_json_delta at all.
      const input = isObject(block.input) && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : undefined;
      this.#calls.add(index, { id: asString(block.id), name: asString(block.name), initialArguments: input });
    }
    // Other block types (server_tool_use, web_search_tool_result, …) are not ours: skipped.
  }

  #blockDelta(data: JsonObject, events: StreamEvent[]): void {
    const delta = data.delta;
    if (!isObject(delta)) return;
    switch (delta.type) {
      case 'text_delta':
        return this.reply.addText(delta.text, events);
      case 'thinking_delta': {
        this.reply.addReasoning(delta.thinking, events);
        const thinking = this.#thinking.get(asNumber(data.index) ?? -1);
        if (thinking !== undefined && typeof delta.thinking === 'string') thinking.text.push(delta.thinking);
        return;
      }
      case 'signature_delta': {
        const thinking = this.#thinking.get(asNumber(data.index) ?? -1);
        if (thinking !== undefined && typeof delta.signature === 'string') thinking.signature += delta.signature;
        return;
      }
      case 'input_json_delta': {
        const index = asNumber(data.index) ?? -1;
        // Deltas of blocks not opened as tool_use (e.g. server tools) are not ours to run.
        if (this.#calls.has(index)) this.#calls.add(index, { arguments: asString(delta.partial_json) });
        return;
      }
    }
  }
}

function anthropicHeaders(config: ProviderConfig): Record<string, string> {
  const headers: Record<string, string> = {
    'anthropic-version': (config.kind === 'anthropic' ? config.version : undefined) ?? DEFAULT_VERSION,
  };
  if (config.apiKey) headers['x-api-key'] = config.apiKey;
  if (config.kind === 'anthropic' && config.authToken) headers.authorization = `Bearer ${config.authToken}`;
  return headers;
}

function toModelInfo(entry: JsonObject): ModelInfo | undefined {
  if (typeof entry.id !== 'string') return undefined;
  const model: ModelInfo = { id: entry.id };
  // Seconds since the epoch, as OpenAI's `created`, so callers see one unit.
  const created = typeof entry.created_at === 'string' ? Date.parse(entry.created_at) : NaN;
  if (Number.isFinite(created)) model.created = Math.floor(created / 1000);
  return model;
}

/**
 * Maps parley's flat message list onto Anthropic's turns: system messages go
 * to the top-level field, tool results become tool_result blocks of a user
 * turn, and a user message right after tool results joins that same turn,
 * because two user turns in a row are refused.
 */
function toWireTurns(messages: Message[]): { system: string | undefined; turns: WireTurn[] } {
  const system: string[] = [];
  const turns: WireTurn[] = [];
  let toolTurn: JsonObject[] | undefined; // the blocks of the last turn, while it is a tool-result turn
  messages.forEach((message, index) => {
    switch (message.role) {
      case 'system':
        system.push(contentText(message.content));
        return;
      case 'tool': {
        const block = { type: 'tool_result', tool_use_id: message.toolCallId, content: contentText(message.content) };
        if (toolTurn !== undefined) toolTurn.push(block);
        else {
          toolTurn = [block];
          turns.push({ role: 'user', content: toolTurn });
        }
        return;
      }
      case 'user': {
        const content = typeof message.content === 'string' ? message.content : message.content.map(anthropicPart);
        if (toolTurn !== undefined) {
          if (typeof content === 'string') toolTurn.push({ type: 'text', text: content });
          else toolTurn.push(...content);
          toolTurn = undefined;
        } else turns.push({ role: 'user', content });
        return;
      }
      case 'assistant':
        toolTurn = undefined;
        turns.push({ role: 'assistant', content: assistantContent(message, index) });
        return;
    }
  });
  return { system: system.length > 0 ? system.join('\n\n') : undefined, turns };
}

/**
 * An assistant turn as Anthropic wants it back: its thinking blocks first,
 * exactly as received (unsigned ones are not Anthropic's and are left out),
 * then its text, then its tool_use blocks.
 */
function assistantContent(message: Message, index: number): string | JsonObject[] {
  const text = contentText(message.content);
  const blocks: JsonObject[] = [];
  for (const block of message.reasoningBlocks ?? []) {
    if (block.type === 'redacted-thinking') blocks.push({ type: 'redacted_thinking', data: block.data });
    else if (block.signature !== undefined) blocks.push({ type: 'thinking', thinking: block.thinking, signature: block.signature });
  }
  const calls = message.toolCalls ?? [];
  if (blocks.length === 0 && calls.length === 0) return text;
  // Anthropic refuses empty text blocks.
  if (text !== '') blocks.push({ type: 'text', text });
  calls.forEach((call, i) => {
    blocks.push({
      type: 'tool_use',
      id: call.id,
      name: call.name,
      input: parseToolArguments(call.arguments, `request.messages[${index}].toolCalls[${i}].arguments`),
    });
  });
  return blocks;
}

function thinkingBlock(thinking: string, signature: string | undefined): ReasoningBlock {
  return signature === undefined ? { type: 'thinking', thinking } : { type: 'thinking', thinking, signature };
}


function errorText(body: JsonObject): string | undefined {
  const error = body.error;
  if (!isObject(error)) return asString(error) ?? asString(body.message);
  const type = asString(error.type);
  const message = asString(error.message) ?? '';
  return type === undefined ? message : `${type}: ${message}`;
}

function providerError(ctx: ProviderContext, body: JsonObject): ParleyError {
  const type = isObject(body.error) ? asString(body.error.type) : undefined;
  return new ParleyError('PROVIDER', redact(errorText(body) ?? 'unknown error', ctx), {
    provider: ctx.name,
    retryable: type !== undefined && RETRYABLE_ERROR_TYPES.has(type),
  });
}
