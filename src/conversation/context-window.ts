/**
 * Token estimates and oldest-first trimming of a conversation's request.
 * Pure functions: the conversation owns the calibration state and passes it in.
 *
 * The estimate is deliberately crude (characters / 4 plus a per-message
 * overhead); the provider's reported input tokens correct it over time through
 * a smoothed calibration ratio.
 */
import { binaryParts, contentText } from '../shared/content.ts';
import type { Message } from '../shared/types.ts';

const CHARS_PER_TOKEN = 4;
/** Role markers and separators every chat template adds around a message. */
const MESSAGE_OVERHEAD = 4;
/** Id, name and JSON framing around each tool call. */
const TOOL_CALL_OVERHEAD = 8;
/**
 * A flat guess for an image or document part: providers count images by
 * their pixels (Anthropic: about width × height / 750), which the host does
 * not decode; the usage calibration corrects it.
 */
const PART_TOKENS = 1000;
/** Weight of the newest observation in the smoothed calibration ratio. */
const CALIBRATION_ALPHA = 0.3;
/** A ratio outside these bounds says more about a broken usage report than about the estimate. */
const MIN_CALIBRATION = 0.1;
const MAX_CALIBRATION = 10;

function charTokens(text: string): number {
  return Math.ceil(text.length / CHARS_PER_TOKEN);
}

/** Uncalibrated token estimate of one message, tool calls included. */
export function estimateMessageTokens(message: Message): number {
  let tokens = MESSAGE_OVERHEAD + charTokens(contentText(message.content));
  for (const _part of binaryParts(message.content)) tokens += PART_TOKENS;
  for (const call of message.toolCalls ?? []) {
    tokens += TOOL_CALL_OVERHEAD + charTokens(call.name) + charTokens(call.arguments);
  }
  if (message.toolCallId !== undefined) tokens += charTokens(message.toolCallId);
  if (message.name !== undefined) tokens += charTokens(message.name);
  return tokens;
}

/** Uncalibrated token estimate of a list of messages. */
export function estimateTokens(messages: readonly Message[]): number {
  let total = 0;
  for (const message of messages) total += estimateMessageTokens(message);
  return total;
}

/** Uncalibrated token estimate of anything sent with every request besides the messages (tool specs). */
export function estimateJsonTokens(value: unknown): number {
  return value === undefined ? 0 : charTokens(JSON.stringify(value));
}

/**
 * Folds one usage report into the calibration ratio (reported / estimated).
 * The first observation is taken as it is; later ones are smoothed. Reports
 * that cannot be right (zero, negative, not finite) leave the ratio unchanged.
 *
 * @param previous the current ratio, undefined before any report
 * @param estimatedTokens the uncalibrated estimate of what was sent
 * @param reportedInputTokens the provider's `usage.inputTokens` for that request
 */
export function updateCalibration(
  previous: number | undefined,
  estimatedTokens: number,
  reportedInputTokens: number | undefined,
): number | undefined {
  if (
    reportedInputTokens === undefined ||
    !Number.isFinite(reportedInputTokens) ||
    reportedInputTokens <= 0 ||
    !Number.isFinite(estimatedTokens) ||
    estimatedTokens <= 0
  ) {
    return previous;
  }
  const ratio = Math.min(MAX_CALIBRATION, Math.max(MIN_CALIBRATION, reportedInputTokens / estimatedTokens));
  return previous === undefined ? ratio : previous + CALIBRATION_ALPHA * (ratio - previous);
}

export interface TrimOptions {
  /** The budget, in (calibrated) tokens. */
  maxTokens: number;
  /** Ratio applied to every estimate. @default 1 */
  calibration?: number;
  /** Uncalibrated tokens sent with every request besides the messages (e.g. tool specs). @default 0 */
  fixedTokens?: number;
}

export interface TrimResult {
  messages: Message[];
  /** How many messages were left out. */
  dropped: number;
  /** Calibrated estimate of what is left, fixed tokens included. */
  estimatedTokens: number;
  /** False when even the kept minimum (system + newest exchange) is over the budget. */
  fits: boolean;
}

/**
 * Splits the turns (everything after the system message) into units that are
 * dropped whole: an exchange starts at a user message. When a tool result
 * answers a call made in an earlier exchange, the exchanges between are merged,
 * so a tool result is never kept without its call.
 */
function exchanges(turns: readonly Message[]): Message[][] {
  const groups: Message[][] = [];
  const groupOfCall = new Map<string, number>();
  for (const message of turns) {
    if (message.role === 'user' || groups.length === 0) groups.push([]);
    let current = groups.length - 1;
    if (message.role === 'tool' && message.toolCallId !== undefined) {
      const callGroup = groupOfCall.get(message.toolCallId);
      if (callGroup !== undefined && callGroup < current) {
        const merged = groups.splice(callGroup).flat();
        groups.push(merged);
        current = callGroup;
        for (const [id, group] of groupOfCall) if (group > callGroup) groupOfCall.set(id, callGroup);
      }
    }
    groups[current]!.push(message);
    for (const call of message.toolCalls ?? []) groupOfCall.set(call.id, current);
  }
  return groups;
}

/**
 * Drops the oldest exchanges until the calibrated estimate fits `maxTokens`.
 * The system message (when first) and the newest exchange (the newest user
 * message and what follows it) are always kept, so the result never starts
 * with an assistant or tool message after the system message.
 */
export function trimToWindow(messages: readonly Message[], options: TrimOptions): TrimResult {
  const calibration = options.calibration ?? 1;
  const fixed = options.fixedTokens ?? 0;
  const system = messages[0]?.role === 'system' ? messages[0] : undefined;
  const groups = exchanges(system ? messages.slice(1) : messages);
  const groupTokens = groups.map(estimateTokens);

  let total = fixed + (system ? estimateMessageTokens(system) : 0);
  for (const tokens of groupTokens) total += tokens;

  let first = 0;
  while (first < groups.length - 1 && total * calibration > options.maxTokens) {
    total -= groupTokens[first]!;
    first += 1;
  }

  const kept = groups.slice(first).flat();
  if (system) kept.unshift(system);
  const estimatedTokens = Math.ceil(total * calibration);
  return {
    messages: kept,
    dropped: messages.length - kept.length,
    estimatedTokens,
    fits: estimatedTokens <= options.maxTokens,
  };
}
