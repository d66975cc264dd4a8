/**
 * Structured output on the host: a request's `responseFormat` is made
 * ready for the worker (a Standard Schema, which holds functions and cannot
 * cross the thread, becomes JSON Schema here), and the reply is parsed and
 * validated here (ajv for JSON Schema, the library's own `validate` for a
 * Standard Schema) into `result.object`, or fails with INVALID_OUTPUT. A
 * stream also yields best-effort partial objects as the JSON grows.
 *
 * Its libraries (ajv, partial-json) load with the first request that asks
 * for structured output, not with parley: see json-schema-validation.ts.
 */
import { ParleyError } from '../shared/errors.ts';
import { InvalidOutputError, type OutputIssue } from '../shared/invalid-output-error.ts';
import { DEFAULT_OUTPUT_NAME, outputViaTool } from '../shared/request-controls.ts';
import type { ChatInput, ChatResult, ProviderConfig, ResponseFormat, StandardResult, StandardSchema, StreamEvent } from '../shared/types.ts';
import { compileJsonSchema } from './json-schema-validation.ts';

type Check = (value: unknown) => Promise<{ value: unknown } | { issues: OutputIssue[] }>;

const FIELD = 'request.responseFormat.schema';
/**
 * Re-parsing the whole JSON on every fragment costs the host thread time
 * quadratic in the reply's length (25 KB in 6-byte fragments: 4.7 s). A
 * partial object is parsed only once the text grew by 1/16 of itself (at
 * least 16 bytes), so the total parsed is about 16 times the reply, and not
 * past 128 KB: the validated object still comes in `done`.
 */
const PARTIAL_MIN_GROWTH = 16;
const PARTIAL_GROWTH_SHARE = 16;
const PARTIAL_MAX_CHARS = 128 * 1024;

/** A schema object is converted once: a loop or a conversation sends the same one on every call. */
const converted = new WeakMap<StandardSchema, Record<string, unknown>>();

function isStandardSchema(value: unknown): value is StandardSchema {
  // arktype's types are functions.
  return (typeof value === 'object' || typeof value === 'function') && value !== null && '~standard' in value;
}

/** A Standard Schema issue's path as a JSON Pointer. */
function pointer(path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string {
  if (path === undefined) return '';
  return path.map((p) => `/${String(typeof p === 'object' ? p.key : p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function standardCheck(schema: StandardSchema): Check {
  return async (value) => {
    let result: StandardResult<unknown>;
    try {
      result = await schema['~standard'].validate(value);
    } catch (err) {
      // A validate() that throws (a refinement that assumed its input) is the value not fitting, said by the library.
      return { issues: [{ message: `${String(schema['~standard'].vendor)} validate() threw: ${(err as Error)?.message ?? String(err)}`, path: '' }] };
    }
    if (result.issues === undefined) return { value: result.value };
    return { issues: result.issues.map((issue) => ({ message: issue.message, path: pointer(issue.path) })) };
  };
}

/**
 * The JSON Schema of a Standard Schema, from the library's own converter
 * (Standard JSON Schema). Its input side: the model writes what the schema
 * takes in, and its validate() turns that into the output value (transforms).
 */
function toJsonSchema(schema: StandardSchema): Record<string, unknown> {
  const known = converted.get(schema);
  if (known !== undefined) return known;
  const props = schema['~standard'];
  if (typeof props.jsonSchema?.input !== 'function') {
    throw new ParleyError(
      'INVALID_REQUEST',
      `${FIELD} is a Standard Schema (${String(props.vendor)}) without a JSON Schema converter (~standard.jsonSchema): use zod 4.2+, arktype 2.1.28+, valibot through toStandardJsonSchema() of @valibot/to-json-schema, or pass a JSON Schema`,
    );
  }
  try {
    const json = props.jsonSchema.input({ target: 'draft-2020-12' });
    converted.set(schema, json);
    return json;
  } catch (err) {
    throw new ParleyError('INVALID_REQUEST', `${FIELD} could not be converted to JSON Schema by ${String(props.vendor)}: ${(err as Error).message}`, { cause: err });
  }
}

type PartialJsonParse = (text: string) => unknown;
let partialJson: Promise<PartialJsonParse> | undefined;

/** partial-json's parse, loaded once (a string-literal import(), so bundlers still bundle it). */
function partialJsonParser(): Promise<PartialJsonParse> {
  partialJson ??= import('partial-json').then((m) => m.parse);
  return partialJson;
}

/** The JSON text so far, parsed best-effort, or undefined while nothing can be made of it. */
function partialObject(parse: PartialJsonParse, text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return parse(text);
  } catch {
    return undefined;
  }
}

/** Reads the caller's responseFormat without trusting it: anything odd is left for the door to refuse. */
function formatOf(req: unknown): ResponseFormat | undefined {
  try {
    const format = (req as { responseFormat?: unknown } | null)?.responseFormat;
    const type = (format as { type?: unknown } | null)?.type;
    return type === 'json' || type === 'json-schema' ? (format as ResponseFormat) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `call` on the request as the worker can take it and, with a
 * responseFormat, checks its result; a schema that cannot be prepared
 * rejects (INVALID_REQUEST) before `call` runs. Without a responseFormat,
 * `call` runs at once, with no step in between.
 */
export function chatWithOutput(req: ChatInput, providers: Record<string, ProviderConfig>, call: (req: ChatInput) => Promise<ChatResult>): Promise<ChatResult> {
  if (formatOf(req) === undefined) return call(req);
  return StructuredOutput.prepare(req, providers).then(({ request, output }) => (output === undefined ? call(request) : call(request).then((result) => output.finish(result))));
}

/**
 * The stream of `open` on the request as the worker can take it and, with a
 * responseFormat, its events with partial objects and a checked `done`
 * (StructuredOutput.stream). A schema that cannot be prepared rejects the
 * first next() (INVALID_REQUEST) before `open` runs. Without a
 * responseFormat, `open`'s own stream, untouched.
 */
export function streamWithOutput(req: ChatInput, providers: Record<string, ProviderConfig>, open: (req: ChatInput) => AsyncIterable<StreamEvent>): AsyncIterable<StreamEvent> {
  if (formatOf(req) === undefined) return open(req);
  return (async function* () {
    const { request, output } = await StructuredOutput.prepare(req, providers);
    yield* output === undefined ? open(request) : output.stream(open(request));
  })();
}

export class StructuredOutput {
  readonly #name: string;
  readonly #check: Check | undefined;
  readonly #providers: Record<string, ProviderConfig>;
  readonly #format: ResponseFormat;

  private constructor(format: ResponseFormat, check: Check | undefined, providers: Record<string, ProviderConfig>) {
    this.#format = format;
    this.#name = (format.type === 'json-schema' ? format.name : undefined) ?? DEFAULT_OUTPUT_NAME;
    this.#check = check;
    this.#providers = providers;
  }

  /**
   * The request as the door and the worker get it (a Standard Schema
   * replaced by its JSON Schema) and the output check of its reply, or no
   * check when it asks for no structured output. Rejects with
   * INVALID_REQUEST for a schema that cannot be converted or compiled.
   */
  static async prepare(req: ChatInput, providers: Record<string, ProviderConfig>): Promise<{ request: ChatInput; output: StructuredOutput | undefined }> {
    const format = formatOf(req);
    if (format === undefined) return { request: req, output: undefined };
    if (format.type === 'json') return { request: req, output: new StructuredOutput(format, undefined, providers) };
    const schema = format.schema;
    if (isStandardSchema(schema)) {
      const json = toJsonSchema(schema);
      const converted: ResponseFormat = { ...format, schema: json };
      return { request: { ...req, responseFormat: converted }, output: new StructuredOutput(converted, standardCheck(schema), providers) };
    }
    let plain: Record<string, unknown>;
    try {
      plain = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
    } catch {
      // Not JSON data: the door names what is wrong with it.
      return { request: req, output: undefined };
    }
    if (typeof plain !== 'object' || plain === null || Array.isArray(plain)) return { request: req, output: undefined };
    const check = await compileJsonSchema(plain, FIELD);
    return { request: req, output: new StructuredOutput(format, async (value) => ({ issues: check(value), value }), providers) };
  }

  /** The result with `object` set, or InvalidOutputError. A reply that asks for tools (and has no text) is returned as it is. */
  async finish(raw: ChatResult): Promise<ChatResult> {
    const config = this.#providers[raw.provider];
    const result = config !== undefined && outputViaTool(config, this.#format) ? this.#fromTool(raw) : raw;
    if (result.toolCalls !== undefined && result.toolCalls.length > 0 && result.content === '') return result;
    // A refusal (OpenAI's `refusal`, with the results of "Speak what providers speak (1)") is the model's answer, not broken output.
    if (result.content === '' && typeof (result as { refusal?: unknown }).refusal === 'string') return result;
    const text = result.content;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      const reason: string = result.finishReason;
      const cut = reason === 'length' || reason === 'max_tokens' ? ' (it was cut at the token limit: raise maxTokens)' : '';
      throw new InvalidOutputError(`the reply is not valid JSON${cut}: ${(err as Error).message}`, text, [{ message: (err as Error).message, path: '' }], { provider: result.provider });
    }
    if (this.#check !== undefined) {
      const checked = await this.#check(value);
      if ('issues' in checked && checked.issues.length > 0) {
        const first = checked.issues[0]!;
        throw new InvalidOutputError(
          `the reply does not fit the schema: ${first.path || '(the value)'} ${first.message}${checked.issues.length > 1 ? ` (and ${checked.issues.length - 1} more)` : ''}`,
          text,
          checked.issues,
          { provider: result.provider },
        );
      }
      if ('value' in checked) value = checked.value;
    }
    return { ...result, object: value };
  }

  /**
   * The events with partial objects: after each text event that changes
   * what the JSON so far parses to, an `object` event with it; the `done`
   * event carries the validated object, or the iteration throws
   * INVALID_OUTPUT. Leaving the loop leaves `events` too (the call is cancelled).
   */
  async *stream(events: AsyncIterable<StreamEvent>): AsyncGenerator<StreamEvent> {
    const viaTool = Object.values(this.#providers).some((config) => outputViaTool(config, this.#format));
    const parse = await partialJsonParser();
    let text = '';
    let shown: string | undefined;
    let parsedAt = 0;
    for await (const event of events) {
      if (event.type === 'done') {
        yield { type: 'done', result: await this.finish(event.result) };
        continue;
      }
      // Anthropic's forced tool arrives as one whole tool call: it is the reply's text.
      const piece = viaTool && event.type === 'tool_call' && event.toolCall.name === this.#name ? event.toolCall.arguments : undefined;
      if (piece === undefined) yield event;
      else yield { type: 'text', text: piece };
      if (event.type !== 'text' && piece === undefined) continue;
      text += piece ?? (event as { text: string }).text;
      if (text.length > PARTIAL_MAX_CHARS || text.length - parsedAt < Math.max(PARTIAL_MIN_GROWTH, parsedAt / PARTIAL_GROWTH_SHARE)) continue;
      parsedAt = text.length;
      const partial = partialObject(parse, text);
      const key = partial === undefined ? undefined : JSON.stringify(partial);
      if (key !== undefined && key !== shown) {
        shown = key;
        yield { type: 'object', object: partial };
      }
    }
  }

  /** Anthropic's forced tool call as the reply's text: its input is the object. */
  #fromTool(result: ChatResult): ChatResult {
    const calls = result.toolCalls ?? [];
    const call = calls.find((c) => c.name === this.#name);
    if (call === undefined) return result;
    const { toolCalls: _calls, ...rest } = result;
    const others = calls.filter((c) => c !== call);
    const out: ChatResult = { ...rest, content: call.arguments, finishReason: answeredReason(result.finishReason) as ChatResult['finishReason'] };
    if (others.length > 0) out.toolCalls = others;
    return out;
  }
}

/**
 * The finish reason of a reply that ended by answering, in place of the
 * forced tool call's: Anthropic's own word while results carry it, the
 * normalised 'stop' once they are normalised ('tool-calls').
 */
function answeredReason(reason: string): string {
  if (reason === 'tool_use') return 'end_turn';
  if (reason === 'tool-calls' || reason === 'tool_calls') return 'stop';
  return reason;
}
