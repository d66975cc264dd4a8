/**
 * How stream events cross the thread boundary. Structured clone pays per
 * object, and a batch is mostly tiny text events, so a batch travels as one
 * string of kinds and one array of strings; tool calls, which are rare, ride
 * alongside. The host rebuilds event objects one at a time as they are read
 * (host/stream-reader.ts).
 */
import type { StreamEvent, ToolCall } from './types.ts';

export interface EventBatch {
  /** One character per event: 't' text, 'r' reasoning, 'f' refusal, 'c' the next entry of toolCalls. */
  kinds: string;
  /** The text of each 't', 'r' and 'f' event, in order ('' for 'c'). */
  parts: string[];
  toolCalls?: ToolCall[];
}

export function packEvents(events: readonly StreamEvent[]): EventBatch {
  let kinds = '';
  const parts: string[] = new Array(events.length);
  let toolCalls: ToolCall[] | undefined;
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!;
    switch (event.type) {
      case 'text':
        kinds += 't';
        parts[i] = event.text;
        break;
      case 'reasoning':
        kinds += 'r';
        parts[i] = event.text;
        break;
      case 'refusal':
        kinds += 'f';
        parts[i] = event.text;
        break;
      case 'tool_call':
        kinds += 'c';
        parts[i] = '';
        (toolCalls ??= []).push(event.toolCall);
        break;
      case 'done':
        // 'done' is never batched: it is the stream's end message.
        break;
    }
  }
  return toolCalls ? { kinds, parts, toolCalls } : { kinds, parts };
}
