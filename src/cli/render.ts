/**
 * Writes a streamed reply as it arrives: text to stdout, reasoning and tool
 * calls dimmed (on a terminal only), with the spinner up until the first
 * event. Returns the final result, or throws what the stream threw.
 */
import { ParleyError, type ChatResult, type StreamEvent } from '../index.ts';
import type { Style } from './colors.ts';
import { startSpinner } from './spinner.ts';

export interface ReplyOutput {
  write(text: string): void;
  style: Style;
  /** Show reasoning and tool calls (a person is watching). */
  verbose: boolean;
  spinnerLabel?: string;
  /** Written once, when the first event arrives (after the spinner is gone). */
  prefix?: string;
}

export async function renderReply(events: AsyncIterable<StreamEvent>, out: ReplyOutput): Promise<ChatResult> {
  const spinner = startSpinner(out.spinnerLabel ?? 'thinking…');
  let inReasoning = false;
  let inRefusal = false;
  let atLineStart = true;
  const write = (text: string) => {
    if (text === '') return;
    out.write(text);
    atLineStart = text.endsWith('\n');
  };
  try {
    let first = true;
    for await (const event of events) {
      spinner.stop();
      if (first) {
        first = false;
        if (out.prefix) write(out.prefix);
      }
      switch (event.type) {
        case 'reasoning':
          if (!out.verbose) break;
          inReasoning = true;
          write(out.style.dim(event.text));
          break;
        case 'text':
          if (inReasoning) {
            inReasoning = false;
            write('\n\n');
          }
          write(event.text);
          break;
        case 'refusal':
          // Refusal events are not text: they concatenate to result.refusal.
          if (!inRefusal) write(`${atLineStart ? '' : '\n'}${out.style.dim('(refused)')} `);
          inRefusal = true;
          write(event.text);
          break;
        case 'tool_call':
          if (!out.verbose) break;
          if (!atLineStart) write('\n');
          write(out.style.dim(`[tool call ${event.toolCall.name}(${event.toolCall.arguments})]\n`));
          break;
        case 'done':
          if (!atLineStart) write('\n');
          return event.result;
      }
    }
    throw new ParleyError('INCOMPLETE', 'the reply ended without its final event');
  } finally {
    spinner.stop();
    if (!atLineStart) out.write('\n');
  }
}
