/**
 * Ollama's native chat API (/api/chat): NDJSON streams ended by a line with
 * `done: true`, tool calls delivered whole with arguments as an object.
 */
import { ParleyError } from '../errors.ts';
import type { ChatRequest, ChatResult, Message, ModelInfo, StreamEvent } from '../types.ts';
import type { Adapter, HttpRequestSpec, ProviderContext, StreamParser } from './adapter.ts';
import { NdjsonDecoder } from './ndjson-decoder.ts';
import { ReplyAssembler } from './tool-call-assembler.ts';
import {
  asString,
  badResponse,
  errorBodyMessage,
  excerpt,
  isObject,
  joinUrl,
  parseToolArguments,
  redact,
  requestHeaders,
  type JsonObject,
} from './wire-format.ts';

const OLLAMA_DEFAULT_BASE_URL = 'http://127.0.0.1:11434';
const NORMAL_FINISH = 'stop';

export class OllamaAdapter implements Adapter {
  readonly kind = 'ollama';
  readonly #ctx: ProviderContext;
  readonly #baseUrl: string;

  constructor(ctx: ProviderContext) {
    this.#ctx = ctx;
    this.#baseUrl = ctx.config.baseUrl || OLLAMA_DEFAULT_BASE_URL;
  }

  chatRequest(req: ChatRequest, stream: boolean): HttpRequestSpec {
    const body: JsonObject = { model: req.model, messages: req.messages.map(toWireMessage), stream };
    if (req.tools !== undefined && req.tools.length > 0) {
      body.tools = req.tools.map((tool) => ({
        type: 'function',
        function: { name: tool.name, description: tool.description, parameters: tool.parameters },
      }));
    }
    const options: JsonObject = {};
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.stop !== undefined) options.stop = req.stop;
    if (req.seed !== undefined) options.seed = req.seed;
    if (Object.keys(options).length > 0) body.options = options;
    if (req.extra !== undefined) Object.assign(body, req.extra);
    return {
      method: 'POST',
      url: joinUrl(this.#baseUrl, 'api/chat'),
      headers: this.#headers(stream ? 'application/x-ndjson' : 'application/json', true),
      body: JSON.stringify(body),
    };
  }

  parseChat(body: unknown, req: ChatRequest): ChatResult {
    const reply = new ReplyAssembler(this.#ctx.name, req.model);
    readReply(this.#ctx, body, reply, { next: 0 }, []);
    return reply.result(NORMAL_FINISH);
  }

  streamParser(req: ChatRequest): StreamParser {
    return new OllamaStreamParser(this.#ctx, req);
  }

  modelsRequest(): HttpRequestSpec {
    return { method: 'GET', url: joinUrl(this.#baseUrl, 'api/tags'), headers: this.#headers('application/json', false) };
  }

  parseModels(body: unknown): ModelInfo[] {
    if (!isObject(body) || !Array.isArray(body.models)) throw badResponse(this.#ctx.name, 'model list has no models array', body);
    const models: ModelInfo[] = [];
    for (const entry of body.models) {
      const name = isObject(entry) ? (asString(entry.name) ?? asString(entry.model)) : undefined;
      if (name !== undefined) models.push({ id: name });
    }
    return models;
  }

  /** The root answers "Ollama is running" without touching any model. */
  healthRequest(): HttpRequestSpec {
    return { method: 'GET', url: joinUrl(this.#baseUrl, ''), headers: this.#headers('*/*', false) };
  }

  errorMessage(status: number, bodyText: string): string {
    return errorBodyMessage(this.#ctx, status, bodyText, errorText);
  }

  #headers(accept: string, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept };
    if (hasBody) headers['content-type'] = 'application/json';
    if (this.#ctx.config.apiKey) headers.authorization = `Bearer ${this.#ctx.config.apiKey}`;
    return requestHeaders(this.#ctx, headers);
  }
}

class OllamaStreamParser implements StreamParser {
  readonly #ctx: ProviderContext;
  readonly #lines: NdjsonDecoder;
  readonly #reply: ReplyAssembler;
  readonly #ids = { next: 0 };
  #done = false;
  #failure: unknown;

  constructor(ctx: ProviderContext, req: ChatRequest) {
    this.#ctx = ctx;
    this.#lines = new NdjsonDecoder({ provider: ctx.name, isEnd: (line) => isObject(line) && line.done === true });
    this.#reply = new ReplyAssembler(ctx.name, req.model);
  }

  get done(): boolean {
    return this.#done || this.#failure !== undefined;
  }

  push(chunk: Uint8Array): StreamEvent[] {
    const events: StreamEvent[] = [];
    if (this.done) return events;
    try {
      this.#read(this.#lines.push(chunk), events);
    } catch (err) {
      // What the provider sent before its error, in the same chunk, still
      // reaches the caller; finish() then throws the error.
      if (events.length === 0) throw err;
      this.#failure = err;
    }
    return events;
  }

  finish(): ChatResult {
    if (this.#failure !== undefined) throw this.#failure;
    // A last line without its newline still counts, end marker included.
    if (!this.#done) this.#read(this.#lines.end(), []);
    if (!this.#done) throw new ParleyError('INCOMPLETE', 'the stream ended without a line with "done": true', { provider: this.#ctx.name });
    return this.#reply.result(NORMAL_FINISH);
  }

  #read(lines: unknown[], events: StreamEvent[]): void {
    for (const line of lines) {
      if (readReply(this.#ctx, line, this.#reply, this.#ids, events)) {
        this.#done = true;
        return;
      }
    }
  }
}

/** Reads one reply object (a stream line or a whole reply); returns true when it carries `done: true`. */
function readReply(ctx: ProviderContext, line: unknown, reply: ReplyAssembler, ids: { next: number }, events: StreamEvent[]): boolean {
  if (!isObject(line)) throw badResponse(ctx.name, 'reply line is not a JSON object', line);
  if (line.error !== undefined && line.error !== null) {
    throw new ParleyError('PROVIDER', redact(errorText(line) ?? 'unknown error', ctx), { provider: ctx.name });
  }
  reply.setModel(line.model);
  const message = line.message;
  if (isObject(message)) {
    reply.addReasoning(message.thinking, events);
    reply.addText(message.content, events);
    if (Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls) {
        const fn = isObject(call) && isObject(call.function) ? call.function : undefined;
        if (fn === undefined) continue;
        const args = fn.arguments;
        reply.addToolCall(
          {
            id: (isObject(call) && asString(call.id)) || `call_${ids.next}`,
            name: asString(fn.name) ?? '',
            arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}),
          },
          events,
        );
        ids.next++;
      }
    }
  } else if (line.done !== true) {
    throw badResponse(ctx.name, 'reply line has no message', line);
  }
  if (line.done !== true) return false;
  reply.setFinishReason(line.done_reason);
  reply.setUsage(line.prompt_eval_count, line.eval_count);
  return true;
}

function toWireMessage(message: Message, index: number): JsonObject {
  if (message.role === 'tool') {
    const wire: JsonObject = { role: 'tool', content: message.content };
    if (message.name !== undefined) wire.tool_name = message.name;
    return wire;
  }
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: message.content,
      tool_calls: message.toolCalls.map((call, i) => ({
        function: {
          name: call.name,
          arguments: parseToolArguments(call.arguments, `request.messages[${index}].toolCalls[${i}].arguments`),
        },
      })),
    };
  }
  return { role: message.role, content: message.content };
}

function errorText(body: JsonObject): string | undefined {
  const error = body.error;
  if (typeof error === 'string') return error;
  if (isObject(error)) return asString(error.message) ?? excerpt(JSON.stringify(error));
  return undefined;
}
