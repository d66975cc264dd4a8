/**
 * What each wire protocol (OpenAI, Ollama, Anthropic) supplies to the shared
 * exchange driver. The driver owns timing and faults; a protocol only turns a
 * request body into a ChatTurn and reply events into its own frames, so a
 * fault behaves the same way in all three formats.
 */

import type { Attachment } from './attachments.ts';
import type { ChatTurn, Reply, ReplyEvent, ToolOffer } from './reply-text.ts';

export type ProtocolName = 'openai' | 'ollama' | 'anthropic';

/** A request the protocol refuses, answered with its own error body. */
export interface RequestProblem {
  problem: true;
  status: number;
  message: string;
}

/** Everything a protocol needs to render one exchange. */
export interface ExchangeContext {
  turn: ChatTurn;
  reply: Reply;
  /** The parsed request body, for protocol options such as stream_options. */
  body: Record<string, unknown>;
  /** Unique per request; protocols prefix it (chatcmpl-, msg_). */
  id: string;
  /** Unix seconds. */
  created: number;
  /** OpenAI protocol: content as arrays of thinking and text parts (options.contentArrays). */
  contentArrays?: boolean;
}

/** Frames of one streamed response; each method returns the exact text to write. */
export interface StreamEncoder {
  readonly contentType: string;
  start(): string[];
  event(event: ReplyEvent): string[];
  /** Closing frames (final chunk, usage), without the end marker. */
  finish(): string[];
  /** [DONE] / the done:true line / message_stop: what 'truncate' leaves out. */
  endMarker(): string[];
  /** The protocol's in-stream error frame. */
  error(message: string): string;
  /** A comment line that keeps the stream alive, when the format has one. */
  keepAlive(): string | undefined;
}

/** What the server's own options say about the model, for the rules that depend on it. */
export interface ParseSettings {
  /** The model thinks on every turn (options.reasoning), as if the request had asked for it. */
  thinks: boolean;
}

export interface WireProtocol {
  readonly name: ProtocolName;
  parse(body: Record<string, unknown>, settings: ParseSettings): ChatTurn | RequestProblem;
  encoder(ctx: ExchangeContext): StreamEncoder;
  /** The non-stream response body. */
  body(ctx: ExchangeContext): unknown;
  /** The body of an error status. */
  errorBody(status: number, message: string): unknown;
  /** A 2xx body that carries an error (the non-stream form of 'stream-error'). */
  inBodyError(message: string): unknown;
}

/**
 * The attachments of each message in order (`read` gives one message's, or a
 * problem string), keeping those of the last user message: what the reply
 * answers. The first problem found is the request's 400.
 */
export function lastUserAttachments(
  messages: unknown[],
  read: (message: Record<string, unknown>) => Attachment[] | string,
): Attachment[] | RequestProblem {
  let last: Attachment[] = [];
  for (const raw of messages) {
    const m = asRecord(raw);
    const found = read(m);
    if (typeof found === 'string') return problem(400, found);
    if (m.role === 'user' && (found.length > 0 || !isToolResultTurn(m))) last = found;
  }
  return last;
}

/** An Anthropic user turn that only carries tool results answers tools, not the user. */
function isToolResultTurn(m: Record<string, unknown>): boolean {
  return Array.isArray(m.content) && m.content.length > 0 && m.content.every((b) => asRecord(b).type === 'tool_result');
}

export function isProblem<T extends object>(value: T | RequestProblem): value is RequestProblem {
  return (value as RequestProblem).problem === true;
}

export function problem(status: number, message: string): RequestProblem {
  return { problem: true, status, message };
}

/** Message content as text: a string, or the text parts of a content array. */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => {
      if (typeof part === 'string') return part;
      const p = (part ?? {}) as Record<string, unknown>;
      if (typeof p.text === 'string') return p.text;
      if (p.type === 'tool_result') return contentText(p.content);
      return '';
    })
    .filter(Boolean)
    .join(' ');
}

export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Tools in the OpenAI function shape, which Ollama copied: `[{ type: 'function', function: { name, parameters } }]`. */
export function functionTools(value: unknown): ToolOffer[] {
  return (Array.isArray(value) ? value : [])
    .map((t) => asRecord(asRecord(t).function))
    .filter((f) => typeof f.name === 'string')
    .map((f) => ({ name: f.name as string, parameters: f.parameters }));
}

/** The positive integer cap the request set, or undefined. */
export function tokenCap(...values: unknown[]): number | undefined {
  for (const v of values) if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  return undefined;
}

export function sse(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
