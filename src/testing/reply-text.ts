/**
 * The replies the model server "generates": deterministic for a given model
 * and conversation, short, and readable in a CLI, so a person trying parley
 * sees a plausible answer and a test can predict every token.
 */

import type { TurnOutput, TurnToolChoice } from './request-controls.ts';
import { describeAttachments, type Attachment } from './attachments.ts';

export type TurnRole = 'system' | 'user' | 'assistant' | 'tool';

/** One message, reduced by a protocol to what the reply depends on. */
export interface TurnMessage {
  role: TurnRole;
  text: string;
  /** For tool results: the tool that produced it, when the protocol says. */
  toolName?: string;
}

export interface ToolOffer {
  name: string;
  /** JSON Schema of the arguments, as the request sent it. */
  parameters?: unknown;
}

/** A chat request in protocol-neutral form. */
export interface ChatTurn {
  model: string;
  messages: TurnMessage[];
  tools: ToolOffer[];
  /** The request's own cap, when it set one. */
  maxTokens?: number;
  stream: boolean;
  /** The request asked for thinking (think: true, thinking.type 'enabled', reasoning_effort). */
  reasoning: boolean;
  /** The request's tool choice (tool_choice; Ollama has none). */
  toolChoice?: TurnToolChoice;
  /** The request asked for JSON (response_format, format, output_config.format). */
  output?: TurnOutput;
  /** The images and documents of the last user message; the reply says what it saw. */
  attachments?: Attachment[];
}

export interface ToolCallPlan {
  /** Protocol-neutral suffix; protocols prefix it (call_, toolu_). */
  id: string;
  name: string;
  input: Record<string, unknown>;
  /** JSON text of `input`; the streamed fragments concatenate to it. */
  arguments: string;
}

/** One streamed unit: a token of reasoning or text, or a fragment of tool-call arguments. */
export type ReplyEvent =
  | { kind: 'reasoning'; text: string }
  | { kind: 'text'; text: string }
  | { kind: 'refusal'; text: string }
  | { kind: 'tool'; text: string };

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'refusal';

export interface Reply {
  events: ReplyEvent[];
  reasoning: string;
  /** The text, or '' when the reply is a refusal. */
  text: string;
  /** The refusal's text, when settings.refusal turned the reply into one. */
  refusal?: string;
  toolCall?: ToolCallPlan;
  finish: FinishReason;
  promptTokens: number;
  /** Every event sent counts, reasoning included, as providers count it. */
  completionTokens: number;
}

export interface ReplySettings {
  maxTokens: number;
  reasoning: boolean;
  tools: 'auto' | 'never';
  /** Pad the text until the reply holds at least this many bytes (the 'oversized' fault). */
  minBytes?: number;
  /** Keep writing until the request's token cap (benchmarks need replies of a known length). */
  fillToMaxTokens?: boolean;
  /** Answer a request for JSON with text that is not JSON. */
  invalidJson?: boolean;
  /** Refuse instead of answering (options.refusal). */
  refusal?: boolean;
}

const REFUSAL = "I'm sorry, but I can't help with that request.";

/** FNV-1a: a stable hash so the same conversation always picks the same phrasing. */
export function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Words with their leading whitespace, so the tokens concatenate back to the text exactly. */
function tokenize(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [];
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

function quoteOf(text: string, max: number): string {
  const w = words(text.replace(/["“”]/g, ''));
  if (w.length === 0) return '(an empty message)';
  return w.length > max ? `${w.slice(0, max).join(' ')}…` : w.join(' ');
}

const OPENERS = [
  (q: string) => `You said "${q}".`,
  (q: string) => `About "${q}":`,
  (q: string) => `Thanks for writing "${q}".`,
];
const BODIES = [
  'A real model would think hard here; I answer with predictable text so every token can be checked.',
  'The words arrive one token at a time, so a client can show them as they stream.',
  'No neural network wrote this, but it has the shape of what a chat model sends.',
];
const CLOSERS = ['Send another message to continue.', 'What would you like next?', 'Ask again and the turn number goes up.'];

function pick<T>(list: readonly T[], hash: number, salt: number): T {
  return list[(hash >>> salt) % list.length]!;
}

function replyToUser(turn: ChatTurn, hash: number): string {
  const users = turn.messages.filter((m) => m.role === 'user');
  const last = users.at(-1);
  if (!last) return `Hello from ${turn.model}. You have not said anything yet; send a message and I will answer it.`;
  const opener = pick(OPENERS, hash, 0)(quoteOf(last.text, 6));
  const seen = turn.attachments !== undefined && turn.attachments.length > 0 ? ` I see ${describeAttachments(turn.attachments)}.` : '';
  return `${opener}${seen} This is turn ${users.length}, answered by ${turn.model}. ${pick(BODIES, hash, 3)} ${pick(CLOSERS, hash, 7)}`;
}

function replyToToolResult(turn: ChatTurn, result: TurnMessage): string {
  const tool = result.toolName ? `The ${result.toolName} tool` : 'The tool';
  const content = words(result.text).slice(0, 60).join(' ') || '(nothing)';
  const question = turn.messages.filter((m) => m.role === 'user').at(-1);
  const about = question ? ` That answers "${quoteOf(question.text, 6)}".` : '';
  return `${tool} returned: ${content}.${about} Anything else?`;
}

function reasoningFor(turn: ChatTurn): string {
  const users = turn.messages.filter((m) => m.role === 'user');
  const last = users.at(-1);
  const topic = last ? `"${quoteOf(last.text, 6)}"` : 'nothing yet';
  return `The user wrote ${topic} on turn ${users.length}. I should answer briefly and refer to their words.`;
}

/** A value that fits a JSON Schema well enough for a test to read it back. */
function sampleValue(schema: unknown, turn: ChatTurn, key: string): unknown {
  const s = (typeof schema === 'object' && schema !== null ? schema : {}) as Record<string, unknown>;
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0];
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  const users = turn.messages.filter((m) => m.role === 'user');
  switch (type) {
    case 'number':
    case 'integer':
      return users.length;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return sampleObject(s, turn);
    default:
      // The user's own words (no ellipsis), so a test can see where an argument came from.
      return users.length > 0 ? words(users.at(-1)!.text).slice(0, 8).join(' ') || key : key;
  }
}

function sampleObject(schema: Record<string, unknown>, turn: ChatTurn): Record<string, unknown> {
  const props = (typeof schema.properties === 'object' && schema.properties !== null ? schema.properties : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(props)) out[key] = sampleValue(sub, turn, key);
  return out;
}

/** Cuts the arguments JSON into a few fragments, as providers stream them. */
function fragments(text: string, size = 12): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length > 0 ? out : [''];
}

/** Repeats the text's words into big tokens until `minBytes` is reached. */
function padTokens(text: string, minBytes: number): string[] {
  const unit = ` ${words(text).join(' ')}`;
  const chunk = unit.repeat(Math.max(1, Math.ceil(4096 / unit.length)));
  const out: string[] = [];
  let bytes = 0;
  while (bytes < minBytes) {
    out.push(chunk);
    bytes += Buffer.byteLength(chunk);
  }
  out[0] = out[0]!.trimStart();
  return out;
}

/** More of the same reply, for replies as long as the request allows. */
function continuation(turn: ChatTurn, hash: number, part: number): string {
  const topics = ['the details', 'an example', 'the trade-offs', 'what to try next', 'a summary'];
  return ` Part ${part + 1} of the answer to ${turn.model} covers ${pick(topics, hash, part)}, one token at a time, so long streams can be measured.`;
}

export function buildReply(turn: ChatTurn, settings: ReplySettings): Reply {
  const hash = stableHash(`${turn.model}\n${JSON.stringify(turn.messages)}`);
  const promptTokens = turn.messages.reduce((n, m) => n + words(m.text).length, 0);
  const last = turn.messages.at(-1);
  const events: ReplyEvent[] = [];

  const thinking = settings.reasoning || turn.reasoning ? reasoningFor(turn) : '';
  for (const t of tokenize(thinking)) events.push({ kind: 'reasoning', text: t });

  const tool = toolToCall(turn, settings, last);
  if (tool !== undefined) {
    const schema = (typeof tool.parameters === 'object' && tool.parameters !== null ? tool.parameters : {}) as Record<string, unknown>;
    const input = sampleObject(schema, turn);
    const args = JSON.stringify(input);
    for (const f of fragments(args)) events.push({ kind: 'tool', text: f });
    return {
      events,
      reasoning: thinking,
      text: '',
      toolCall: { id: hash.toString(16).padStart(8, '0'), name: tool.name, input, arguments: args },
      finish: 'tool_calls',
      promptTokens,
      completionTokens: events.length,
    };
  }

  if (settings.refusal) {
    const tokens = tokenize(REFUSAL);
    for (const t of tokens) events.push({ kind: 'refusal', text: t });
    return { events, reasoning: thinking, text: '', refusal: REFUSAL, finish: 'refusal', promptTokens, completionTokens: events.length };
  }
  const full = turn.output ? jsonText(turn, settings) : last?.role === 'tool' ? replyToToolResult(turn, last) : replyToUser(turn, hash);
  // JSON has no spaces to split on: it streams in short fragments, as models send it.
  let tokens = turn.output ? fragments(full, 6) : tokenize(full);
  let finish: FinishReason = 'stop';
  if (settings.minBytes !== undefined) {
    tokens = padTokens(full, settings.minBytes);
  } else {
    const cap = Math.max(1, turn.maxTokens ?? settings.maxTokens);
    for (let part = 1; settings.fillToMaxTokens && tokens.length <= cap; part++) tokens.push(...tokenize(continuation(turn, hash, part)));
    if (tokens.length > cap) {
      tokens = tokens.slice(0, cap);
      finish = 'length';
    }
  }
  for (const t of tokens) events.push({ kind: 'text', text: t });
  return { events, reasoning: thinking, text: tokens.join(''), finish, promptTokens, completionTokens: events.length };
}

/** The tool the reply calls: the one the tool choice forces, else (tools 'auto') the first one offered after a user message. */
function toolToCall(turn: ChatTurn, settings: ReplySettings, last: TurnMessage | undefined): ToolOffer | undefined {
  const choice = turn.toolChoice;
  if (choice === 'none' || turn.tools.length === 0 || settings.minBytes !== undefined) return undefined;
  if (typeof choice === 'object') return turn.tools.find((t) => t.name === choice.name);
  if (choice === 'required') return turn.tools[0];
  return settings.tools === 'auto' && last?.role === 'user' ? turn.tools[0] : undefined;
}

/** JSON that fits the schema the request sent (an object with an answer without one), or broken JSON when told. */
function jsonText(turn: ChatTurn, settings: ReplySettings): string {
  const schema = turn.output?.schema ?? { type: 'object', properties: { answer: { type: 'string' } } };
  const text = JSON.stringify(sampleValue(schema, turn, 'answer'));
  return settings.invalidJson ? `${text.slice(0, -1)} and then some words that are not JSON` : text;
}
