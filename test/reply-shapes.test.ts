/**
 * Replies in every shape real servers send, over real HTTP through the
 * runtime's workers: a node:http server writes the exact bytes of each shape
 * (written for this test after recordings of real services), and each one is
 * asked for in chat() and in stream(). The model named in the request picks
 * the shape.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime, type ChatResult, type Runtime, type StreamEvent } from '../src/index.ts';
import { testWorkers } from './helpers/workers-mode.ts';

type Kind = 'openai' | 'anthropic' | 'ollama';

interface Shape {
  kind: Kind;
  /** The exact bytes of the streamed reply. */
  stream?: string;
  /** The non-stream reply body. */
  chat?: unknown;
}

const sse = (...chunks: unknown[]): string => chunks.map((c) => `data: ${typeof c === 'string' ? c : JSON.stringify(c)}\n\n`).join('');
const chunk = (delta: unknown, finish: string | null = null, extra: object = {}) => ({ model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], ...extra });
const completion = (message: object, finish: string, extra: object = {}) => ({ model: 'm', choices: [{ index: 0, message: { role: 'assistant', ...message }, finish_reason: finish }], ...extra });
const named = (...events: Record<string, unknown>[]): string => events.map((e) => `event: ${String(e.type)}\ndata: ${JSON.stringify(e)}\n\n`).join('');
const messageStart = (usage: object = { input_tokens: 3, output_tokens: 1 }) => ({ type: 'message_start', message: { model: 'claude', content: [], usage } });
const blockStart = (index: number, block: object) => ({ type: 'content_block_start', index, content_block: block });
const blockDelta = (index: number, delta: object) => ({ type: 'content_block_delta', index, delta });
const blockStop = (index: number) => ({ type: 'content_block_stop', index });
const messageDelta = (stopReason: string, usage: object = { output_tokens: 5 }) => ({ type: 'message_delta', delta: { stop_reason: stopReason }, usage });
const ndjson = (...lines: object[]): string => lines.map((l) => `${JSON.stringify({ model: 'm', ...l })}\n`).join('');

const SHAPES: Record<string, Shape> = {
  // Mistral's thinking models: content is an array of thinking and text parts.
  'content-array': {
    kind: 'openai',
    stream: sse(
      chunk({ role: 'assistant', content: [{ type: 'thinking', thinking: [{ type: 'text', text: 'Two plus two' }] }] }),
      chunk({ content: [{ type: 'thinking', thinking: [{ type: 'text', text: ' is four.' }] }] }),
      chunk({ content: [{ type: 'reference', reference_ids: [1] }, { type: 'text', text: '2 + 2 = 4' }] }),
      chunk({ content: '' }, 'stop'),
      '[DONE]',
    ),
    chat: completion({ content: [{ type: 'thinking', thinking: [{ type: 'text', text: 'Two plus two is four.' }] }, { type: 'text', text: '2 + 2 = 4' }] }, 'stop'),
  },
  refusal: {
    kind: 'openai',
    stream: sse(chunk({ role: 'assistant', content: null, refusal: '' }), chunk({ refusal: "I'm sorry, " }), chunk({ refusal: 'I cannot help with that.' }), chunk({}, 'stop'), '[DONE]'),
    chat: completion({ content: null, refusal: "I'm sorry, I cannot help with that." }, 'stop'),
  },
  // Older llama.cpp servers: an `error:` field, then [DONE].
  'error-field': {
    kind: 'openai',
    stream: `${sse(chunk({ content: 'Hel' }))}error: {"code":500,"message":"the request exceeds the available context size","type":"server_error"}\n\ndata: [DONE]\n\n`,
  },
  'error-event-text': { kind: 'openai', stream: `${sse(chunk({ content: 'Hel' }))}event: error\ndata: upstream connection lost\n\n` },
  // The body closes right after the last line: no blank line after it.
  'done-no-blank-line': { kind: 'openai', stream: `${sse(chunk({ content: 'all here' }, 'stop'))}data: [DONE]\n` },
  'anthropic-stop-no-blank-line': {
    kind: 'anthropic',
    stream: `${named(messageStart(), blockStart(0, { type: 'text', text: '' }), blockDelta(0, { type: 'text_delta', text: 'all here' }), blockStop(0), messageDelta('end_turn'))}event: message_stop\ndata: {"type":"message_stop"}\n`,
  },
  // Parallel calls streamed one per chunk, all at index 0 (or no index), with distinct ids.
  'tool-calls-by-id': {
    kind: 'openai',
    stream: sse(
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } }] }),
      chunk({ tool_calls: [{ index: 0, id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":' } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] }),
      chunk({ tool_calls: [{ id: 'call_c', type: 'function', function: { name: 'time', arguments: '{}' } }] }),
      chunk({}, 'tool_calls'),
      '[DONE]',
    ),
    chat: completion(
      {
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'call_c', type: 'function', function: { name: 'time', arguments: '{}' } },
        ],
      },
      'tool_calls',
    ),
  },
  // Anthropic-compatible servers that send the whole input in content_block_start and no input_json_delta.
  'tool-use-whole-input': {
    kind: 'anthropic',
    stream: named(
      messageStart(),
      blockStart(0, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }),
      blockStop(0),
      messageDelta('tool_use'),
      { type: 'message_stop' },
    ),
  },
  'openrouter-reasoning-details': {
    kind: 'openai',
    stream: `: OPENROUTER PROCESSING\n\n${sse(
      chunk({ role: 'assistant', content: '', reasoning: null, reasoning_details: [{ type: 'reasoning.text', text: 'Think', format: 'anthropic-claude-v1', index: 0 }] }),
      chunk({ content: '', reasoning: 'ing.', reasoning_details: [{ type: 'reasoning.text', text: 'ing.', index: 0 }] }),
      chunk({ content: 'Done.' }, 'stop'),
      '[DONE]',
    )}`,
    chat: completion({ content: 'Done.', reasoning: null, reasoning_details: [{ type: 'reasoning.text', text: 'Thinking.' }] }, 'stop'),
  },
  'groq-reasoning-usage': {
    kind: 'openai',
    stream: sse(
      chunk({ reasoning: 'Thinking.' }),
      chunk({ content: 'Done.' }),
      chunk({}, 'stop', { x_groq: { id: 'req_1', usage: { prompt_tokens: 20, completion_tokens: 7, total_tokens: 27, queue_time: 0.01 } } }),
      '[DONE]',
    ),
  },
  'openai-usage-details': {
    kind: 'openai',
    chat: completion({ content: 'Done.', reasoning_content: 'Thinking.' }, 'stop', {
      usage: {
        prompt_tokens: 100,
        completion_tokens: 30,
        total_tokens: 130,
        prompt_tokens_details: { cached_tokens: 64 },
        completion_tokens_details: { reasoning_tokens: 12 },
      },
    }),
  },
  'content-filter': { kind: 'openai', stream: sse(chunk({ content: 'Some' }), chunk({}, 'content_filter'), '[DONE]') },
  // Redacted thinking, a server tool and its result block around the text: the text around them is kept.
  'anthropic-unknown-blocks': {
    kind: 'anthropic',
    stream: named(
      messageStart({ input_tokens: 10, cache_read_input_tokens: 50, cache_creation_input_tokens: 5, output_tokens: 1 }),
      blockStart(0, { type: 'redacted_thinking', data: 'EncryptedBlob==' }),
      blockStop(0),
      blockStart(1, { type: 'text', text: 'Let me search. ' }),
      blockStop(1),
      blockStart(2, { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} }),
      blockDelta(2, { type: 'input_json_delta', partial_json: '{"query":"x"}' }),
      blockStop(2),
      blockStart(3, { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] }),
      blockStop(3),
      blockStart(4, { type: 'text', text: '' }),
      blockDelta(4, { type: 'citations_delta', citation: { type: 'web_search_result_location', url: 'https://example.com' } }),
      blockDelta(4, { type: 'text_delta', text: 'Found it.' }),
      blockStop(4),
      messageDelta('pause_turn', { output_tokens: 9 }),
      { type: 'message_stop' },
    ),
    chat: {
      type: 'message',
      model: 'claude',
      content: [
        { type: 'redacted_thinking', data: 'EncryptedBlob==' },
        { type: 'text', text: 'Let me search. ' },
        { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'x' } },
        { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
        { type: 'text', text: 'Found it.', citations: [] },
      ],
      stop_reason: 'pause_turn',
      usage: { input_tokens: 10, cache_read_input_tokens: 50, cache_creation_input_tokens: 5, output_tokens: 9 },
    },
  },
  'ollama-thinking-tools': {
    kind: 'ollama',
    stream: ndjson(
      { message: { role: 'assistant', content: '', thinking: 'Weather needs a tool.' }, done: false },
      { message: { role: 'assistant', content: '', tool_calls: [{ function: { name: 'weather', arguments: { city: 'Paris' } } }] }, done: false },
      { message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 9, eval_count: 4 },
    ),
    chat: {
      model: 'm',
      message: { role: 'assistant', content: '', thinking: 'Weather needs a tool.', tool_calls: [{ function: { name: 'weather', arguments: { city: 'Paris' } } }] },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: 9,
      eval_count: 4,
    },
  },
};

function route(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; stream?: boolean };
    const shape = SHAPES[body.model];
    const stream = body.stream !== false && (body.stream === true || req.url === '/api/chat');
    if (shape === undefined || (stream ? shape.stream : shape.chat) === undefined) return void res.writeHead(404).end();
    if (stream) {
      res.writeHead(200, { 'content-type': shape.kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
      res.end(shape.stream);
    } else {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(shape.chat));
    }
  });
}

describe(`replies in every shape real servers send (workers: ${testWorkers})`, { timeout: 60_000 }, () => {
  let server: Server;
  let rt: Runtime;

  before(async () => {
    server = createServer(route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    rt = await createRuntime({
      workers: testWorkers,
      timeoutMs: 10_000,
      maxRetries: 0,
      providers: {
        openai: { kind: 'openai', baseUrl: `${base}/v1` },
        anthropic: { kind: 'anthropic', baseUrl: base, apiKey: 'test-key' },
        ollama: { kind: 'ollama', baseUrl: base },
      },
    });
  });

  after(async () => {
    await rt.shutdown({ graceMs: 500 });
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const request = (model: string) => ({ provider: SHAPES[model]!.kind, model, messages: [{ role: 'user' as const, content: 'hi' }] });
  const chat = (model: string) => rt.chat(request(model));
  async function stream(model: string): Promise<{ events: StreamEvent[]; result: ChatResult }> {
    const events: StreamEvent[] = [];
    for await (const event of rt.stream(request(model))) events.push(event);
    const done = events.pop();
    assert.equal(done?.type, 'done');
    return { events, result: (done as { result: ChatResult }).result };
  }
  /** Both ways, when the shape has both: each result goes through `check`. */
  async function both(model: string, check: (result: ChatResult, how: string) => void): Promise<void> {
    if (SHAPES[model]!.chat !== undefined) check(await chat(model), 'chat');
    if (SHAPES[model]!.stream !== undefined) check((await stream(model)).result, 'stream');
  }

  test('content as an array of thinking and text parts (Mistral) gives reasoning and text; unknown part types are skipped', async () => {
    await both('content-array', (r, how) => {
      assert.equal(r.content, '2 + 2 = 4', how);
      assert.equal(r.reasoning, 'Two plus two is four.', how);
      assert.equal(r.finishReason, 'stop', how);
    });
    const { events } = await stream('content-array');
    assert.deepEqual(events.map((e) => e.type), ['reasoning', 'reasoning', 'text']);
  });

  test("a refusal comes back as its own field with finishReason 'refusal', not as an empty stop", async () => {
    await both('refusal', (r, how) => {
      assert.equal(r.refusal, "I'm sorry, I cannot help with that.", how);
      assert.equal(r.finishReason, 'refusal', how);
      assert.equal(r.rawFinishReason, 'stop', how);
      assert.equal(r.content, '', how);
    });
    const { events } = await stream('refusal');
    assert.deepEqual(events, [
      { type: 'refusal', text: "I'm sorry, " },
      { type: 'refusal', text: 'I cannot help with that.' },
    ]);
  });

  test("an error: field followed by data: [DONE] (older llama.cpp) is PROVIDER with the server's message", async () => {
    await assert.rejects(stream('error-field'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROVIDER');
      assert.match(err.message, /exceeds the available context size/);
      return true;
    });
  });

  test('event: error with data that is not JSON is PROVIDER with that text', async () => {
    await assert.rejects(stream('error-event-text'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'PROVIDER');
      assert.match(err.message, /upstream connection lost/);
      return true;
    });
  });

  test('a body that closes right after its last event line, without the blank line, is complete (OpenAI [DONE], Anthropic message_stop)', async () => {
    for (const model of ['done-no-blank-line', 'anthropic-stop-no-blank-line']) {
      const { result } = await stream(model);
      assert.equal(result.content, 'all here', model);
      assert.equal(result.finishReason, 'stop', model);
    }
  });

  test('parallel tool calls that reuse index 0 or carry no index, with distinct ids, are separate calls', async () => {
    const expected = [
      { id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' },
      { id: 'call_b', name: 'weather', arguments: '{"city":"Oslo"}' },
      { id: 'call_c', name: 'time', arguments: '{}' },
    ];
    await both('tool-calls-by-id', (r, how) => {
      assert.deepEqual(r.toolCalls, expected, how);
      assert.equal(r.finishReason, 'tool-calls', how);
    });
    const { events } = await stream('tool-calls-by-id');
    assert.deepEqual(events.filter((e) => e.type === 'tool_call').length, 3);
  });

  test('Anthropic tool_use with its whole input in content_block_start and no input_json_delta keeps the input', async () => {
    const { result } = await stream('tool-use-whole-input');
    assert.deepEqual(result.toolCalls, [{ id: 'toolu_1', name: 'weather', arguments: '{"city":"Paris"}' }]);
    assert.equal(result.finishReason, 'tool-calls');
  });

  test("OpenRouter's reasoning_details is reasoning, read once when reasoning repeats it", async () => {
    await both('openrouter-reasoning-details', (r, how) => {
      assert.equal(r.reasoning, 'Thinking.', how);
      assert.equal(r.content, 'Done.', how);
    });
  });

  test("Groq's reasoning field is reasoning, and its usage under x_groq.usage is read", async () => {
    const { result } = await stream('groq-reasoning-usage');
    assert.equal(result.reasoning, 'Thinking.');
    assert.equal(result.usage?.inputTokens, 20);
    assert.equal(result.usage?.outputTokens, 7);
    assert.equal(result.usage?.totalTokens, 27);
    assert.equal(result.usage?.raw?.queue_time, 0.01);
  });

  test('OpenAI usage details give cachedInputTokens and reasoningTokens', async () => {
    const r = await chat('openai-usage-details');
    assert.equal(r.reasoning, 'Thinking.');
    const { raw, ...usage } = r.usage!;
    assert.deepEqual(usage, { inputTokens: 100, outputTokens: 30, totalTokens: 130, cachedInputTokens: 64, reasoningTokens: 12 });
    assert.deepEqual(raw?.prompt_tokens_details, { cached_tokens: 64 });
  });

  test("content_filter is finishReason 'content-filter'", async () => {
    const { result } = await stream('content-filter');
    assert.equal(result.finishReason, 'content-filter');
    assert.equal(result.rawFinishReason, 'content_filter');
    assert.equal(result.content, 'Some');
  });

  test('Anthropic redacted_thinking is kept as a block; server tools, their results and citations are skipped without losing the text; cache usage is read', async () => {
    await both('anthropic-unknown-blocks', (r, how) => {
      assert.equal(r.content, 'Let me search. Found it.', how);
      assert.deepEqual(r.reasoningBlocks, [{ type: 'redacted-thinking', data: 'EncryptedBlob==' }], how);
      assert.equal(r.toolCalls, undefined, how);
      assert.equal(r.finishReason, 'other', how);
      assert.equal(r.rawFinishReason, 'pause_turn', how);
      const { raw, ...usage } = r.usage!;
      assert.deepEqual(usage, { inputTokens: 65, outputTokens: 9, totalTokens: 74, cachedInputTokens: 50, cacheWriteTokens: 5 }, how);
      assert.equal(raw?.cache_read_input_tokens, 50, how);
    });
  });

  test("Ollama thinking is reasoning, and a reply that made tool calls says 'tool-calls' (Ollama says stop)", async () => {
    await both('ollama-thinking-tools', (r, how) => {
      assert.equal(r.reasoning, 'Weather needs a tool.', how);
      assert.deepEqual(r.toolCalls, [{ id: 'call_0', name: 'weather', arguments: '{"city":"Paris"}' }], how);
      assert.equal(r.finishReason, 'tool-calls', how);
      assert.equal(r.rawFinishReason, 'stop', how);
      assert.equal(r.usage?.totalTokens, 13, how);
    });
  });
});
