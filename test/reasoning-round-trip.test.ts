/**
 * Reasoning that round-trips: Anthropic's thinking blocks come back with their
 * signatures in ChatResult and in the conversation's assistant messages, are
 * sent back as received, and are stored in transcripts. The model server
 * enforces Anthropic's rule (the last assistant turn that made tool calls
 * must start with its thinking block, with a valid signature), so a lost or
 * altered block fails the next turn with HTTP 400, as it does against Anthropic.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type ChatRequest, type Message, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const weather = {
  name: 'get_weather',
  description: 'Current weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

type Block = Record<string, unknown>;

/** The assistant turns of the newest Anthropic request the server received. */
function sentAssistantTurns(server: ModelServer): Block[][] {
  const request = server.requests.filter((r) => r.path === '/v1/messages').at(-1);
  assert.ok(request, 'the server received a Messages request');
  const messages = (request.body as { messages: { role: string; content: string | Block[] }[] }).messages;
  return messages.filter((m) => m.role === 'assistant').map((m) => (typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content));
}

describe(`reasoning that round-trips through Anthropic (workers: ${testWorkers})`, { timeout: 60_000 }, () => {
  let server: ModelServer;
  let rt: Runtime;
  let dir: string;

  before(async () => {
    // reasoning: the model thinks on every turn, as a request with thinking enabled asks.
    server = await startModelServer({ reasoning: true });
    rt = await createRuntime({
      workers: testWorkers,
      providers: { claude: { kind: 'anthropic', baseUrl: server.url, apiKey: 'sk-ant-round-trip' } },
      ...TEST_RUNTIME_DEFAULTS,
    });
    dir = await mkdtemp(join(tmpdir(), 'parley-reasoning-'));
  });

  after(async () => {
    await rt.shutdown({ graceMs: 1000 });
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('chat() and stream() keep thinking blocks with their signatures', async () => {
    const req: ChatRequest = { provider: 'claude', model: 'parley-echo', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weather] };
    const chat = await rt.chat(req);
    assert.equal(chat.finishReason, 'tool-calls');
    assert.equal(chat.reasoningBlocks?.length, 1);
    const block = chat.reasoningBlocks[0]!;
    assert.equal(block.type, 'thinking');
    assert.equal(block.type === 'thinking' && block.thinking, chat.reasoning);
    assert.ok(block.type === 'thinking' && typeof block.signature === 'string' && block.signature.length > 0);
    let streamed: typeof chat | undefined;
    for await (const event of rt.stream(req)) if (event.type === 'done') streamed = event.result;
    assert.deepEqual(streamed?.reasoningBlocks, chat.reasoningBlocks, 'the stream assembles the same block, signature_delta included');
  });

  test('a conversation with thinking and tools over several turns sends each thinking block back and is stored in its transcript', async () => {
    const store = join(dir, 'thinking.jsonl');
    const c = await rt.conversation({ provider: 'claude', model: 'parley-echo', tools: [weather], store });
    for (const city of ['Paris', 'Oslo', 'Lima']) {
      const call = await c.send(`What is the weather in ${city}?`);
      assert.equal(call.finishReason, 'tool-calls');
      assert.ok(call.reasoningBlocks?.[0]?.type === 'thinking');
      const asked = c.messages.at(-1)!;
      assert.deepEqual(asked.reasoningBlocks, call.reasoningBlocks, 'the assistant message keeps the blocks');
      // Against a server that enforces the rule, this turn fails with HTTP 400 unless the block went back.
      const answer = await c.sendToolResults([{ toolCallId: call.toolCalls![0]!.id, content: `Sunny in ${city}` }]);
      assert.equal(answer.finishReason, 'stop');
      assert.match(answer.content, new RegExp(`Sunny in ${city}`));
      const turns = sentAssistantTurns(server);
      assert.deepEqual(turns.at(-1)![0], { type: 'thinking', thinking: call.reasoning, signature: (call.reasoningBlocks![0] as { signature: string }).signature });
    }
    await c.close();
    const lines = (await readFile(store, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { messages?: Message[] });
    const stored = lines.flatMap((l) => l.messages ?? []).filter((m) => m.reasoningBlocks !== undefined);
    assert.ok(stored.length >= 3, 'the thinking blocks are in the transcript');

    // Resumed from its transcript, the conversation still sends them back.
    const resumed = await rt.conversation({ provider: 'claude', model: 'parley-echo', tools: [weather], store });
    const call = await resumed.send('And in Rome?');
    const answer = await resumed.sendToolResults([{ toolCallId: call.toolCalls![0]!.id, content: 'Rainy in Rome' }]);
    assert.equal(answer.finishReason, 'stop');
    const turns = sentAssistantTurns(server);
    assert.ok(turns.every((blocks) => blocks[0]!.type === 'thinking'), 'every past assistant turn went back with its thinking block');
    await resumed.close();
  });

  test('the server enforces the rule: a tool-call turn sent back without its thinking block, or with an altered signature, is HTTP 400', async () => {
    const req: ChatRequest = { provider: 'claude', model: 'parley-echo', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weather] };
    const call = await rt.chat(req);
    const toolCall = call.toolCalls![0]!;
    const next = (assistant: Message): ChatRequest => ({
      ...req,
      messages: [...req.messages, assistant, { role: 'tool', toolCallId: toolCall.id, content: 'Sunny' }],
    });
    const without: Message = { role: 'assistant', content: '', toolCalls: [toolCall] };
    await assert.rejects(rt.chat(next(without)), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'HTTP');
      assert.equal(err.status, 400);
      assert.match(err.message, /must start with a thinking block/);
      return true;
    });
    const altered: Message = { ...without, reasoningBlocks: [{ type: 'thinking', thinking: call.reasoning!, signature: 'Zm9yZ2Vk' }] };
    await assert.rejects(rt.chat(next(altered)), { code: 'HTTP', status: 400 });
    const redacted: Message = { ...without, reasoningBlocks: [{ type: 'redacted-thinking', data: 'EncryptedBlob==' }] };
    assert.equal((await rt.chat(next(redacted))).finishReason, 'stop', 'redacted thinking goes back as redacted_thinking');
    const kept: Message = { ...without, reasoningBlocks: call.reasoningBlocks! };
    assert.equal((await rt.chat(next(kept))).finishReason, 'stop');
  });

  test('reasoningBlocks are checked at the door', async () => {
    const bad = (message: unknown) =>
      rt.chat({ provider: 'claude', model: 'parley-echo', messages: [{ role: 'user', content: 'hi' }, message as Message, { role: 'user', content: 'again' }] });
    await assert.rejects(bad({ role: 'assistant', content: 'x', reasoningBlocks: [{ type: 'thinking', thinking: 1 }] }), {
      code: 'INVALID_REQUEST',
      message: /request\.messages\[1\]\.reasoningBlocks\[0\]\.thinking must be a string/,
    });
    await assert.rejects(bad({ role: 'assistant', content: 'x', reasoningBlocks: [{ type: 'secret' }] }), {
      code: 'INVALID_REQUEST',
      message: /request\.messages\[1\]\.reasoningBlocks\[0\]\.type must be 'thinking' or 'redacted-thinking'/,
    });
    await assert.rejects(bad({ role: 'user', content: 'x', reasoningBlocks: [] }), { code: 'INVALID_REQUEST', message: /reasoningBlocks must be absent/ });
  });
});
