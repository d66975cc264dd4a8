/**
 * The messages of a conversation's history: copies (the history is never
 * shared with a caller or a request), the frozen view `messages` shows, and
 * the assistant's message a turn adds.
 */
import type { ChatResult, ContentPart, Message, ReasoningBlock, ToolCall } from '../shared/types.ts';

/** A copy of the message's own structure; the bytes of image and document parts are shared, never copied. */
export function copyMessage(message: Message): Message {
  const content = typeof message.content === 'string' ? message.content : message.content.map((part) => ({ ...part }));
  const copy: Message = { role: message.role, content };
  if (message.reasoningBlocks) copy.reasoningBlocks = message.reasoningBlocks.map((block) => ({ ...block }));
  if (message.toolCalls) copy.toolCalls = message.toolCalls.map((call) => ({ ...call }));
  if (message.toolCallId !== undefined) copy.toolCallId = message.toolCallId;
  if (message.name !== undefined) copy.name = message.name;
  return copy;
}

/** A copy made read-only, down to its parts: what `conversation.messages` shows. */
export function frozenMessage(message: Message): Message {
  const copy = copyMessage(message);
  if (copy.toolCalls) copy.toolCalls = Object.freeze(copy.toolCalls.map((call) => Object.freeze(call))) as ToolCall[];
  if (copy.reasoningBlocks) copy.reasoningBlocks = Object.freeze(copy.reasoningBlocks.map((block) => Object.freeze(block))) as ReasoningBlock[];
  if (typeof copy.content !== 'string') copy.content = Object.freeze(copy.content.map((part) => Object.freeze(part))) as ContentPart[];
  return Object.freeze(copy);
}

/** The assistant's message of a turn, from its result. */
export function assistantMessage(result: ChatResult): Message {
  const message: Message = { role: 'assistant', content: result.content };
  // Kept to be sent back as received: Anthropic refuses the turn after a tool call without them.
  if (result.reasoningBlocks && result.reasoningBlocks.length > 0) message.reasoningBlocks = result.reasoningBlocks.map((block) => ({ ...block }));
  if (result.toolCalls && result.toolCalls.length > 0) message.toolCalls = result.toolCalls.map((call) => ({ ...call }));
  return message;
}
