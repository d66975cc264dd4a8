/**
 * Ollama's native chat API (/api/chat): NDJSON streams ended by a line with
 * `done: true`, tool calls delivered whole with arguments as an object.
 */
import { ParleyError } from '../../shared/errors.ts';
import type { ChatRequest, ChatResult, FinishReason, Message, ModelInfo, StreamEvent } from '../../shared/types.ts';
import type { Adapter, HttpRequestSpec, ProviderContext, StreamParser } from './adapter.ts';
import { ollamaControls } from './controls-mapping.ts';
import { mergeExtra } from './extra-merge.ts';
import { NdjsonDecoder } from './ndjson-decoder.ts';
import { bearerAuth, RequestBuilder } from './request-builder.ts';
import { StreamParserBase } from './stream-parser-base.ts';
import { contentText } from '../../shared/content.ts';
import { ollamaImage } from './content-parts.ts';
import { ReplyAssembler } from './reply-assembler.ts';
import { ollamaUsage } from './usage.ts';
import {
  asString,
  badResponse,
  errorBodyMessage,
  errorFieldText,
  functionTools,
  isObject,
  modelList,
  parseToolArguments,
  redact,
  type JsonObject,
} from './wire-format.ts';

const OLLAMA_DEFAULT_BASE_URL = 'http://127.0.0.1:11434';

/** done_reason: "stop", "length", or "load"/"unload" for requests that only load a model. A reply with tool calls becomes 'tool-calls'. */
function finishReason(raw: string | undefined): FinishReason {
  if (raw === undefined || raw === 'stop') return 'stop';
  if (raw === 'length') return 'length';
  return 'other';
}

export class OllamaAdapter implements Adapter {
  readonly kind = 'ollama';
  readonly #ctx: ProviderContext;
  readonly #requests: RequestBuilder;

  constructor(ctx: ProviderContext) {
    this.#ctx = ctx;
    this.#requests = new RequestBuilder(ctx, ctx.config.baseUrl || OLLAMA_DEFAULT_BASE_URL, bearerAuth);
  }

  chatRequest(req: ChatRequest, stream: boolean): HttpRequestSpec {
    const body: JsonObject = { model: req.model, messages: req.messages.map(toWireMessage), stream };
    if (req.tools !== undefined && req.tools.length > 0) body.tools = functionTools(req.tools);
    const config = this.#ctx.config.kind === 'ollama' ? this.#ctx.config : undefined;
    const options: JsonObject = { ...config?.options };
    if (req.temperature !== undefined) options.temperature = req.temperature;
    if (req.maxTokens !== undefined) options.num_predict = req.maxTokens;
    if (req.topP !== undefined) options.top_p = req.topP;
    if (req.stop !== undefined) options.stop = req.stop;
    if (req.seed !== undefined) options.seed = req.seed;
    if (config?.numCtx !== undefined) options.num_ctx = config.numCtx;
    if (Object.keys(options).length > 0) body.options = options;
    if (config?.keepAlive !== undefined) body.keep_alive = config.keepAlive;
    ollamaControls(req, body);
    mergeExtra(body, req.extra);
    return this.#requests.post('api/chat', stream ? 'application/x-ndjson' : 'application/json', body);
  }

  parseChat(body: unknown, req: ChatRequest): ChatResult {
    const reply = new ReplyAssembler(this.#ctx.name, req.model);
    readReply(this.#ctx, body, reply, { next: 0 }, []);
    return reply.result(finishReason);
  }

  streamParser(req: ChatRequest): StreamParser {
    return new OllamaStreamParser(this.#ctx, req);
  }

  modelsRequest(): HttpRequestSpec {
    return this.#requests.get('api/tags');
  }

  parseModels(body: unknown): ModelInfo[] {
    return modelList(this.#ctx.name, body, 'models', toModelInfo);
  }

  /** The root answers "Ollama is running" without touching any model. */
  healthRequest(): HttpRequestSpec {
    return this.#requests.get('', '*/*');
  }

  errorMessage(status: number, bodyText: string): string {
    return errorBodyMessage(this.#ctx, status, bodyText, errorFieldText);
  }
}

class OllamaStreamParser extends StreamParserBase<unknown> {
  readonly #ids = { next: 0 };

  constructor(ctx: ProviderContext, req: ChatRequest) {
    super(ctx, req, {
      decoder: new NdjsonDecoder({ provider: ctx.name, isEnd: (line) => isObject(line) && line.done === true }),
      endMarker: 'a line with "done": true',
      finish: finishReason,
    });
  }

  protected override read(line: unknown, events: StreamEvent[]): boolean {
    return readReply(this.ctx, line, this.reply, this.#ids, events);
  }
}

/** Reads one reply object (a stream line or a whole reply); returns true when it carries `done: true`. */
function readReply(ctx: ProviderContext, line: unknown, reply: ReplyAssembler, ids: { next: number }, events: StreamEvent[]): boolean {
  if (!isObject(line)) throw badResponse(ctx.name, 'reply line is not a JSON object', line);
  if (line.error !== undefined && line.error !== null) {
    throw new ParleyError('PROVIDER', redact(errorFieldText(line) ?? 'unknown error', ctx), { provider: ctx.name });
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
  reply.addUsage(ollamaUsage(line));
  return true;
}

function toModelInfo(entry: JsonObject): ModelInfo | undefined {
  const name = asString(entry.name) ?? asString(entry.model);
  return name === undefined ? undefined : { id: name };
}

function toWireMessage(message: Message, index: number): JsonObject {
  const text = contentText(message.content);
  if (message.role === 'tool') {
    const wire: JsonObject = { role: 'tool', content: text };
    if (message.name !== undefined) wire.tool_name = message.name;
    return wire;
  }
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: text,
      tool_calls: message.toolCalls.map((call, i) => ({
        function: {
          name: call.name,
          arguments: parseToolArguments(call.arguments, `request.messages[${index}].toolCalls[${i}].arguments`),
        },
      })),
    };
  }
  const wire: JsonObject = { role: message.role, content: text };
  if (typeof message.content !== 'string') {
    const images: string[] = [];
    message.content.forEach((part, i) => {
      if (part.type !== 'text') images.push(ollamaImage(part, `request.messages[${index}].content[${i}]`));
    });
    if (images.length > 0) wire.images = images;
  }
  return wire;
}
