import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openConversation, type ConversationRuntime } from '../src/conversation/conversation.ts';
import { ParleyError, hasCode } from '../src/shared/errors.ts';
import type { CallOptions, ChatRequest, ChatResult, StreamEvent, ToolCall } from '../src/shared/types.ts';

/**
 * A tiny real backend: replies "echo: <last message>", one word per stream
 * event. It can be told to fail the next call, to throw mid-stream, to wait
 * for a gate, or to ask for a tool; it honours the AbortSignal.
 */
class EchoBackend implements ConversationRuntime {
  requests: ChatRequest[] = [];
  failNext: Error | undefined;
  throwAfterEvents: number | undefined;
  toolCallsNext: ToolCall[] | undefined;
  inputTokensPerCall: number | undefined;
  gate: Promise<void> | undefined;
  /** Streams whose iteration ended, however it ended (so leaving early reached the backend). */
  closedStreams = 0;
  /** Called when a request reaches the backend. */
  onEnter: (() => void) | undefined;

  #result(req: ChatRequest): ChatResult {
    const result: ChatResult = { content: `echo: ${req.messages.at(-1)!.content}`, finishReason: 'stop', model: req.model, provider: 'echo' };
    if (this.toolCallsNext) {
      result.toolCalls = this.toolCallsNext;
      result.finishReason = 'tool-calls';
      this.toolCallsNext = undefined;
    }
    if (this.inputTokensPerCall !== undefined) result.usage = { inputTokens: this.inputTokensPerCall };
    return result;
  }

  async #enter(req: ChatRequest, opts?: CallOptions): Promise<void> {
    this.requests.push(structuredClone(req));
    this.onEnter?.();
    const signal = opts?.signal;
    const aborted = new Promise<never>((_, reject) => {
      const fire = () => reject(new ParleyError('ABORTED', 'aborted', { cause: signal!.reason }));
      if (signal?.aborted) fire();
      signal?.addEventListener('abort', fire, { once: true });
    });
    aborted.catch(() => {});
    await Promise.race([this.gate ?? Promise.resolve(), aborted]);
    if (signal?.aborted) await aborted;
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
  }

  async chat(req: ChatRequest, opts?: CallOptions): Promise<ChatResult> {
    await this.#enter(req, opts);
    return this.#result(req);
  }

  async *stream(req: ChatRequest, opts?: CallOptions): AsyncIterable<StreamEvent> {
    await this.#enter(req, opts);
    const result = this.#result(req);
    const limit = this.throwAfterEvents;
    this.throwAfterEvents = undefined;
    let sent = 0;
    try {
      for (const word of result.content.split(/(?<= )/)) {
        if (sent === limit) throw new ParleyError('CONNECTION', 'reset mid-stream');
        yield { type: 'text', text: word };
        sent += 1;
      }
      yield { type: 'done', result };
    } finally {
      this.closedStreams += 1;
    }
  }
}

const contents = (messages: readonly { content: string | unknown[] }[]) => messages.map((m) => m.content);

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

describe('Conversation history', () => {
  test('send() sends system, past turns, then the new message, and records the reply', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm', system: 'sys', provider: ['a', 'b'], temperature: 0.2 });
    await c.send('one');
    const result = await c.send('two');
    assert.equal(result.content, 'echo: two');
    assert.deepEqual(contents(backend.requests[1]!.messages), ['sys', 'one', 'echo: one', 'two']);
    assert.deepEqual(backend.requests[1]!.provider, ['a', 'b']);
    assert.equal(backend.requests[1]!.temperature, 0.2);
    assert.deepEqual(contents(c.messages), ['sys', 'one', 'echo: one', 'two', 'echo: two']);
    assert.ok(Object.isFrozen(c.messages) && Object.isFrozen(c.messages[1]));
  });

  test('a failed turn leaves the history exactly as it was, and a retry works', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    await c.send('one');
    const before = c.messages;
    backend.failNext = new ParleyError('TIMEOUT', 'deadline passed');
    await assert.rejects(c.send('two'), (err) => hasCode(err, 'TIMEOUT'));
    assert.deepEqual(c.messages, before);
    await c.send('two');
    assert.deepEqual(contents(c.messages), ['one', 'echo: one', 'two', 'echo: two']);
    assert.deepEqual(contents(backend.requests.at(-1)!.messages), ['one', 'echo: one', 'two']);
  });

  test('an aborted turn leaves the history untouched', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    await c.send('one');
    const before = c.messages;
    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    const controller = new AbortController();
    const pending = c.send('two', { signal: controller.signal });
    // A turn queued behind the aborted one is aborted while it waits.
    const queued = new AbortController();
    const waiting = c.send('three', { signal: queued.signal });
    queued.abort();
    await assert.rejects(waiting, (err) => hasCode(err, 'ABORTED'));
    controller.abort();
    await assert.rejects(pending, (err) => hasCode(err, 'ABORTED'));
    open();
    assert.deepEqual(c.messages, before);
    await c.send('four');
    assert.deepEqual(contents(c.messages), ['one', 'echo: one', 'four', 'echo: four']);
  });

  test('a stream records its turn on done; events concatenate to the content', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    const events = await collect(c.stream('hello there'));
    const text = events.flatMap((e) => (e.type === 'text' ? [e.text] : [])).join('');
    assert.equal(text, 'echo: hello there');
    assert.equal(events.at(-1)!.type, 'done');
    assert.deepEqual(contents(c.messages), ['hello there', 'echo: hello there']);
  });

  test('a stream that throws mid-way leaves the history untouched', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    await c.send('one');
    const before = c.messages;
    backend.throwAfterEvents = 1;
    await assert.rejects(collect(c.stream('two words')), (err) => hasCode(err, 'CONNECTION'));
    assert.deepEqual(c.messages, before);
  });

  test('a stream the caller leaves early leaves the history untouched, and the next turn runs', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    await c.send('one');
    const before = c.messages;
    for await (const event of c.stream('a long reply please')) {
      assert.equal(event.type, 'text');
      break;
    }
    assert.equal(backend.closedStreams, 1, 'leaving the loop closed the backend stream');
    assert.deepEqual(c.messages, before);
    await c.send('two');
    assert.deepEqual(contents(c.messages), ['one', 'echo: one', 'two', 'echo: two']);
  });

  test('a stream ending without done is INCOMPLETE and records nothing', async () => {
    const backend = new EchoBackend();
    backend.stream = async function* () {
      yield { type: 'text', text: 'partial' } as const;
    };
    const c = await openConversation(backend, { model: 'm' });
    await assert.rejects(collect(c.stream('x')), (err) => hasCode(err, 'INCOMPLETE'));
    assert.deepEqual(c.messages, []);
  });

  test('concurrent sends run one at a time, in call order', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    const results = await Promise.all(['a', 'b', 'c', 'd'].map((t) => c.send(t)));
    assert.deepEqual(
      results.map((r) => r.content),
      ['echo: a', 'echo: b', 'echo: c', 'echo: d'],
    );
    assert.deepEqual(contents(c.messages), ['a', 'echo: a', 'b', 'echo: b', 'c', 'echo: c', 'd', 'echo: d']);
    // Each request saw every earlier turn.
    assert.deepEqual(contents(backend.requests[3]!.messages), ['a', 'echo: a', 'b', 'echo: b', 'c', 'echo: c', 'd']);
  });

  test('a fork shares the history and is independent from then on', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm', system: 's' });
    await c.send('common');
    const f = await c.fork();
    await c.send('original');
    await f.send('forked');
    assert.deepEqual(contents(c.messages), ['s', 'common', 'echo: common', 'original', 'echo: original']);
    assert.deepEqual(contents(f.messages), ['s', 'common', 'echo: common', 'forked', 'echo: forked']);
    f.setModel('other');
    assert.equal(c.model, 'm');
  });

  test('reset() forgets the turns but keeps the system message', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm', system: 's' });
    await c.send('one');
    await c.reset();
    assert.deepEqual(contents(c.messages), ['s']);
    await c.send('two');
    assert.deepEqual(contents(backend.requests.at(-1)!.messages), ['s', 'two']);
  });

  test('a turn in flight during reset() is not recorded', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm', system: 's' });
    await c.send('one');
    let open!: () => void;
    backend.gate = new Promise((resolve) => (open = resolve));
    const started = new Promise<void>((resolve) => (backend.onEnter = resolve));
    const inFlight = c.send('two');
    await started;
    await c.reset();
    open();
    assert.equal((await inFlight).content, 'echo: two');
    assert.deepEqual(contents(c.messages), ['s']);
  });

  test('setModel() and setProvider() change the next request', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm1', provider: 'p1' });
    await c.send('one');
    c.setModel('m2');
    c.setProvider(['p2', 'p3']);
    await c.send('two');
    assert.equal(backend.requests[0]!.model, 'm1');
    assert.equal(backend.requests[1]!.model, 'm2');
    assert.deepEqual(backend.requests[1]!.provider, ['p2', 'p3']);
    assert.equal(c.model, 'm2');
    assert.throws(() => c.setModel(''), (err) => hasCode(err, 'INVALID_REQUEST'));
  });

  test('tool calls are recorded and sendToolResults() continues the turn', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    backend.toolCallsNext = [{ id: 'call-1', name: 'weather', arguments: '{"city":"Oslo"}' }];
    const asked = await c.send('weather in Oslo?');
    assert.equal(asked.toolCalls?.[0]?.id, 'call-1');
    assert.deepEqual(c.messages[1]!.toolCalls, [{ id: 'call-1', name: 'weather', arguments: '{"city":"Oslo"}' }]);
    await assert.rejects(c.sendToolResults([{ toolCallId: 'nope', content: 'x' }]), (err) => hasCode(err, 'INVALID_REQUEST'));
    const final = await c.sendToolResults([{ toolCallId: 'call-1', content: 'sunny' }]);
    assert.equal(final.content, 'echo: sunny');
    assert.deepEqual(c.messages[2], { role: 'tool', content: 'sunny', toolCallId: 'call-1', name: 'weather' });
    assert.equal(c.messages.length, 4);
  });

  test('bad input is INVALID_REQUEST naming the field', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm' });
    await assert.rejects(c.send(''), (err: unknown) => hasCode(err, 'INVALID_REQUEST') && err.message.includes('text'));
    await assert.rejects(c.send(42 as unknown as string), (err) => hasCode(err, 'INVALID_REQUEST'));
    assert.throws(() => c.stream('  '), (err) => hasCode(err, 'INVALID_REQUEST'));
    await assert.rejects(c.sendToolResults([]), (err) => hasCode(err, 'INVALID_REQUEST'));
    await assert.rejects(openConversation(backend, { model: '' }), (err: unknown) => hasCode(err, 'INVALID_REQUEST') && err.message.includes('model'));
    await assert.rejects(openConversation(backend, { model: 'm', maxContextTokens: -1 }), (err) => hasCode(err, 'INVALID_REQUEST'));
    assert.equal(backend.requests.length, 0);
  });

  test('requests are trimmed to maxContextTokens, and reported usage calibrates later trimming', async () => {
    const backend = new EchoBackend();
    const c = await openConversation(backend, { model: 'm', system: 's', maxContextTokens: 400 });
    for (let i = 0; i < 6; i++) await c.send(`${i} ${'x'.repeat(400)}`);
    const sent = backend.requests.at(-1)!.messages;
    assert.equal(sent[0]!.role, 'system');
    assert.equal(sent[1]!.role, 'user');
    assert.ok((sent.at(-1)!.content as string).startsWith('5 '));
    assert.ok(sent.length < 12, 'older turns were dropped from the request');
    assert.equal(c.messages.length, 13, 'the history itself keeps every turn');
    const untrimmed = sent.length;

    // The provider says we undercount by 3x: later requests carry fewer turns.
    backend.inputTokensPerCall = 1200;
    await c.send(`6 ${'x'.repeat(400)}`);
    await c.send(`7 ${'x'.repeat(400)}`);
    assert.ok(backend.requests.at(-1)!.messages.length < untrimmed, 'calibration shrank the window');
  });
});
