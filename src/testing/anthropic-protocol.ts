/**
 * Anthropic's Messages API (POST /v1/messages): named SSE events
 * (message_start … message_stop) with content blocks, or one message object.
 */

import type { FinishReason, ToolOffer, TurnMessage } from './reply-text.ts';
import { stableHash } from './reply-text.ts';
import { inlineAttachment, type Attachment } from './attachments.ts';
import { asRecord, contentText, isProblem, lastUserAttachments, problem, sse, type ExchangeContext, type RequestProblem, type StreamEncoder, type WireProtocol } from './wire-protocol.ts';

const STOP_REASONS: Record<FinishReason, string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', refusal: 'refusal' };

/** Anthropic's error `type` for a status. */
function anthropicErrorType(status: number): string {
  const types: Record<number, string> = {
    400: 'invalid_request_error',
    401: 'authentication_error',
    403: 'permission_error',
    404: 'not_found_error',
    413: 'request_too_large',
    429: 'rate_limit_error',
    529: 'overloaded_error',
  };
  return types[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

const toolUseId = (ctx: ExchangeContext) => `toolu_${ctx.reply.toolCall!.id}`;
/** A signature the server can check when the block comes back: it depends on the thinking text only. */
const thinkingSignature = (thinking: string) => Buffer.from(`parley-thinking:${stableHash(thinking).toString(16)}:${thinking.length}`).toString('base64');
const signature = (ctx: ExchangeContext) => thinkingSignature(ctx.reply.reasoning);

/**
 * Anthropic's rules for thinking blocks sent back
 * (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks):
 * every thinking block must carry the signature it was issued with, and with
 * thinking on, the last assistant turn, when it made tool calls, must start
 * with its thinking (or redacted_thinking) block. Answers 400 as Anthropic does.
 */
function thinkingProblem(messages: unknown[], thinking: boolean): RequestProblem | undefined {
  let lastAssistant = -1;
  for (let i = 0; i < messages.length; i++) {
    const m = asRecord(messages[i]);
    if (m.role === 'assistant') lastAssistant = i;
    const blocks = Array.isArray(m.content) ? m.content.map(asRecord) : [];
    for (let j = 0; j < blocks.length; j++) {
      const b = blocks[j]!;
      if (b.type === 'thinking' && (typeof b.thinking !== 'string' || b.signature !== thinkingSignature(b.thinking))) {
        return problem(400, `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`);
      }
      if (b.type === 'redacted_thinking' && (typeof b.data !== 'string' || b.data === '')) return problem(400, `messages.${i}.content.${j}.data: Field required`);
    }
  }
  if (!thinking || lastAssistant < 0) return undefined;
  const content = asRecord(messages[lastAssistant]).content;
  const blocks = Array.isArray(content) ? content.map(asRecord) : [];
  if (!blocks.some((b) => b.type === 'tool_use')) return undefined;
  const first = blocks[0]?.type;
  if (first === 'thinking' || first === 'redacted_thinking') return undefined;
  return problem(
    400,
    `messages.${lastAssistant}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(first)}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks). We recommend you include thinking blocks from previous turns.`,
  );
}

/** Splits user messages carrying tool_result blocks into 'tool' turns, naming the tool from earlier tool_use blocks. */
function toTurnMessages(raw: unknown[]): TurnMessage[] {
  const names = new Map<string, string>();
  const out: TurnMessage[] = [];
  for (const item of raw) {
    const m = asRecord(item);
    const blocks = Array.isArray(m.content) ? m.content.map(asRecord) : [];
    for (const b of blocks) if (b.type === 'tool_use') names.set(String(b.id), String(b.name));
    const results = blocks.filter((b) => b.type === 'tool_result');
    for (const r of results) {
      const msg: TurnMessage = { role: 'tool', text: contentText(r.content) };
      const name = names.get(String(r.tool_use_id));
      if (name) msg.toolName = name;
      out.push(msg);
    }
    const text = typeof m.content === 'string' ? m.content : contentText(blocks.filter((b) => b.type === 'text'));
    if (results.length === 0 || text !== '') out.push({ role: m.role === 'assistant' ? 'assistant' : 'user', text });
  }
  return out;
}

/** image and document blocks, with a base64 or url source. */
function anthropicAttachments(m: Record<string, unknown>): Attachment[] | string {
  const out: Attachment[] = [];
  for (const raw of Array.isArray(m.content) ? m.content : []) {
    const block = asRecord(raw);
    if (block.type !== 'image' && block.type !== 'document') continue;
    const source = asRecord(block.source);
    let found: Attachment | string;
    if (source.type === 'base64') found = inlineAttachment(block.type, String(source.media_type), String(source.data ?? ''));
    else if (source.type === 'url' && typeof source.url === 'string') found = { kind: block.type, url: source.url };
    else found = `${block.type}.source.type: Input should be 'base64' or 'url'`;
    if (typeof found === 'string') return found;
    out.push(found);
  }
  return out;
}

export const anthropicProtocol: WireProtocol = {
  name: 'anthropic',

  parse(body, settings) {
    if (typeof body.model !== 'string' || body.model === '') return problem(400, 'model: Field required');
    if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
      return problem(400, 'max_tokens: Field required');
    }
    if (!Array.isArray(body.messages) || body.messages.length === 0) return problem(400, 'messages: at least one message is required');
    for (const m of body.messages) {
      const role = asRecord(m).role;
      if (role !== 'user' && role !== 'assistant') return problem(400, `messages: Unexpected role ${JSON.stringify(role)}`);
    }
    const thinking = asRecord(body.thinking).type === 'enabled' || settings.thinks;
    const refused = thinkingProblem(body.messages, thinking);
    if (refused) return refused;
    const attachments = lastUserAttachments(body.messages, anthropicAttachments);
    if (isProblem(attachments)) return attachments;
    const messages = toTurnMessages(body.messages);
    const system = contentText(body.system);
    if (system) messages.unshift({ role: 'system', text: system });
    const tools: ToolOffer[] = (Array.isArray(body.tools) ? body.tools : [])
      .map(asRecord)
      .filter((t) => typeof t.name === 'string')
      .map((t) => ({ name: t.name as string, parameters: t.input_schema }));
    return {
      model: body.model,
      messages,
      tools,
      maxTokens: body.max_tokens,
      stream: body.stream === true,
      reasoning: thinking,
      attachments,
    };
  },

  encoder(ctx): StreamEncoder {
    // Blocks open lazily as the event kind changes: thinking, then text or tool_use.
    let index = -1;
    let open: 'reasoning' | 'text' | 'tool' | undefined;
    const close = (): string[] => {
      if (!open) return [];
      const frames: string[] = [];
      if (open === 'reasoning') {
        frames.push(sse({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: signature(ctx) } }, 'content_block_delta'));
      }
      frames.push(sse({ type: 'content_block_stop', index }, 'content_block_stop'));
      open = undefined;
      return frames;
    };
    const startBlock = (kind: 'reasoning' | 'text' | 'tool'): string[] => {
      const frames = close();
      index += 1;
      open = kind;
      const block =
        kind === 'reasoning'
          ? { type: 'thinking', thinking: '', signature: '' }
          : kind === 'text'
            ? { type: 'text', text: '' }
            : { type: 'tool_use', id: toolUseId(ctx), name: ctx.reply.toolCall!.name, input: {} };
      frames.push(sse({ type: 'content_block_start', index, content_block: block }, 'content_block_start'));
      return frames;
    };
    return {
      contentType: 'text/event-stream; charset=utf-8',
      start: () => [
        sse(
          {
            type: 'message_start',
            message: {
              id: `msg_${ctx.id}`,
              type: 'message',
              role: 'assistant',
              model: ctx.turn.model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              usage: { input_tokens: ctx.reply.promptTokens, output_tokens: 1 },
            },
          },
          'message_start',
        ),
        sse({ type: 'ping' }, 'ping'),
      ],
      event(ev) {
        // A refusal is ordinary text to Anthropic; stop_reason "refusal" says what it was.
        const kind = ev.kind === 'refusal' ? 'text' : ev.kind;
        const frames = open === kind ? [] : startBlock(kind);
        const delta =
          kind === 'reasoning'
            ? { type: 'thinking_delta', thinking: ev.text }
            : kind === 'text'
              ? { type: 'text_delta', text: ev.text }
              : { type: 'input_json_delta', partial_json: ev.text };
        frames.push(sse({ type: 'content_block_delta', index, delta }, 'content_block_delta'));
        return frames;
      },
      finish: () => [
        ...close(),
        sse(
          {
            type: 'message_delta',
            delta: { stop_reason: STOP_REASONS[ctx.reply.finish], stop_sequence: null },
            usage: { output_tokens: ctx.reply.completionTokens },
          },
          'message_delta',
        ),
      ],
      endMarker: () => [sse({ type: 'message_stop' }, 'message_stop')],
      error: (message) => sse({ type: 'error', error: { type: 'api_error', message } }, 'error'),
      // A stalled Anthropic stream stays silent: its keep-alive is the ping event, which a stall must not send.
      keepAlive: () => undefined,
    };
  },

  body(ctx) {
    const { reply } = ctx;
    const content: unknown[] = [];
    if (reply.reasoning) content.push({ type: 'thinking', thinking: reply.reasoning, signature: signature(ctx) });
    if (reply.toolCall) content.push({ type: 'tool_use', id: toolUseId(ctx), name: reply.toolCall.name, input: reply.toolCall.input });
    else content.push({ type: 'text', text: reply.refusal ?? reply.text });
    return {
      id: `msg_${ctx.id}`,
      type: 'message',
      role: 'assistant',
      model: ctx.turn.model,
      content,
      stop_reason: STOP_REASONS[reply.finish],
      stop_sequence: null,
      usage: { input_tokens: reply.promptTokens, output_tokens: reply.completionTokens },
    };
  },

  errorBody: (status, message) => ({ type: 'error', error: { type: anthropicErrorType(status), message } }),
  inBodyError: (message) => ({ type: 'error', error: { type: 'api_error', message } }),
};

/** GET /v1/models in Anthropic's shape (a page with first_id / last_id). */
export function anthropicModels(models: string[]): unknown {
  const data = models.map((id) => ({ type: 'model', id, display_name: id, created_at: '2025-01-01T00:00:00Z' }));
  return { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null };
}
