/**
 * A conversation's turn queue never waits without a deadline: a turn's
 * deadline covers its wait behind earlier turns, its signal works while it
 * waits, close() and shutdown() settle every queued turn, a dropped stream
 * iterator holds the queue until its deadline at the latest, and a turn
 * called before reset() is never recorded. Over real loopback HTTP, in actor
 * mode (workers: 1) and pool mode (workers: 2).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type ChatRequest, type ChatResult, type Conversation, type Runtime, type StreamEvent } from '../src/index.ts';
import { openConversation, type ConversationRuntime } from '../src/conversation/conversation.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { chatRequests, plain } from './fixtures/continuity-support.ts';
import { providersFor, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';

/** The user messages of the chat requests the server received, oldest first: which turns reached it. */
function turnsSent(server: ModelServer): string[] {
  return chatRequests(server).map((r) => r.messages.at(-1)!.content);
}

/** Reads one event, then drops the iterator without return(): what a caller that loses interest does. */
async function readOnceAndDrop(stream: AsyncIterable<StreamEvent>): Promise<AsyncIterator<StreamEvent>> {
  const iterator = stream[Symbol.asyncIterator]();
  const first = await iterator.next();
  assert.equal(first.done, false);
  return iterator;
}

for (const workers of [1, 2]) {
  describe(`conversation turn queue (workers: ${workers})`, () => {
    let server: ModelServer;
    let rt: Runtime;
    const open: Conversation[] = [];

    before(async () => {
      server = await startModelServer();
      rt = await createRuntime({ workers, providers: providersFor(server), ...TEST_RUNTIME_DEFAULTS });
      await rt.models(undefined, { timeoutMs: 30_000 });
    });
    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    });

    async function conversation(): Promise<Conversation> {
      const c = await rt.conversation({ model: 'parley-echo', maxTokens: 8 });
      open.push(c);
      server.requests.length = 0;
      return c;
    }

    test('a dropped stream iterator holds the queue until its deadline at the latest; a send behind it fails with TIMEOUT at its own', async () => {
      const c = await conversation();
      server.injectFault({ kind: 'stall', afterTokens: 2 });
      const dropped = await readOnceAndDrop(c.stream('dropped', { timeoutMs: 1_500 }));
      await rejectsWith(c.send('impatient', { timeoutMs: 200 }), 'TIMEOUT');
      const streamBehind = c.stream('impatient stream', { timeoutMs: 200 })[Symbol.asyncIterator]();
      await rejectsWith(streamBehind.next(), 'TIMEOUT');
      // Once the dropped turn's deadline passed, the queue moves on.
      const result = await c.send('patient');
      assert.deepEqual(turnsSent(server), ['dropped', 'patient']);
      assert.deepEqual(plain(c.messages), [
        { role: 'user', content: 'patient' },
        { role: 'assistant', content: result.content },
      ]);
      // The dropped turn was cancelled, not left running in the worker; reading it now says why it ended.
      await waitFor(async () => (await rt.stats()).inFlight === 0, { what: 'the dropped stream released' });
      await rejectsWith(dropped.next(), 'TIMEOUT');
      assert.deepEqual(await dropped.next(), { value: undefined, done: true });
    });

    test('close() fails queued turns with SHUTDOWN at once and settles when the dropped turn is stopped', async () => {
      const c = await conversation();
      server.injectFault({ kind: 'stall', afterTokens: 2 });
      await readOnceAndDrop(c.stream('dropped', { timeoutMs: 1_000 }));
      const queued = c.send('queued');
      const closed = c.close();
      await rejectsWith(queued, 'SHUTDOWN');
      await closed;
      await rejectsWith(c.send('after close'), 'SHUTDOWN');
      assert.deepEqual(turnsSent(server), ['dropped']);
      assert.deepEqual(c.messages, []);
    });

    test('a turn whose signal fires while it waits fails with ABORTED, never reaches the server, and the turns after it run', async () => {
      const c = await conversation();
      server.injectFault({ kind: 'slow-headers', delayMs: 400 });
      const first = c.send('first');
      const controller = new AbortController();
      const aborted = c.send('aborted', { signal: controller.signal });
      const third = c.send('third');
      controller.abort(Object.create(null));
      const err = await rejectsWith(aborted, 'ABORTED');
      assert.equal(Object.getPrototypeOf(err.cause), null, 'the reason is the cause');
      await Promise.all([first, third]);
      assert.deepEqual(turnsSent(server), ['first', 'third']);
      assert.deepEqual(
        c.messages.filter((m) => m.role === 'user').map((m) => m.content),
        ['first', 'third'],
      );
      const alreadyAborted = AbortSignal.abort();
      await rejectsWith(c.send('never', { signal: alreadyAborted }), 'ABORTED');
      await rejectsWith(c.stream('never', { signal: alreadyAborted })[Symbol.asyncIterator]().next(), 'ABORTED');
    });

    test('a turn called before reset() is never recorded, whether it was running or still queued', async () => {
      const c = await conversation();
      await c.send('before');
      server.injectFault({ kind: 'slow-headers', delayMs: 300 });
      const running = c.send('running at reset');
      const queued = c.send('queued at reset');
      const queuedStream = c.stream('stream called before reset');
      await c.reset();
      const [a, b] = await Promise.all([running, queued]);
      assert.ok(a.content !== '' && b.content !== '', 'both still return their reply');
      for await (const _ of queuedStream) {
        // read to done: it still completes, unrecorded
      }
      assert.deepEqual(c.messages, []);
      const after = await c.send('after');
      assert.deepEqual(plain(c.messages), [
        { role: 'user', content: 'after' },
        { role: 'assistant', content: after.content },
      ]);
    });

    test('next() calls issued together on a turn all settle, in order', async () => {
      const c = await conversation();
      const iterator = c.stream('together')[Symbol.asyncIterator]();
      const settled: number[] = [];
      const reads = Array.from({ length: 40 }, (_, i) => iterator.next().then((r) => (settled.push(i), r)));
      const results = await Promise.all(reads);
      assert.deepEqual(
        settled,
        reads.map((_, i) => i),
      );
      const events = results.filter((r) => !r.done).map((r) => r.value as StreamEvent);
      assert.equal(events.at(-1)!.type, 'done');
      assert.ok(results.slice(events.length).every((r) => r.done), 'after done, every read is done');
      assert.equal(c.messages.length, 2);
    });

    test('a stream read up to its done event and never finished holds nothing: the next turn runs at once', async () => {
      const c = await conversation();
      const iterator = c.stream('read to done', { timeoutMs: 60_000 })[Symbol.asyncIterator]();
      for (;;) {
        const { value } = await iterator.next();
        if ((value as StreamEvent).type === 'done') break;
      }
      // The turn's 60 s deadline would make this test time out if done did not let the next turn in.
      await c.send('next', { timeoutMs: 5_000 });
      assert.equal(c.messages.length, 4);
    });

    test('runtime.shutdown() settles every turn of a conversation held by a dropped iterator', async () => {
      const own = await startModelServer();
      const runtime = await createRuntime({ workers, providers: providersFor(own), ...TEST_RUNTIME_DEFAULTS });
      try {
        const c = await runtime.conversation({ model: 'parley-echo' });
        own.injectFault({ kind: 'stall', afterTokens: 2 });
        // Its deadline (the runtime's 10 s) is far beyond the shutdown's grace.
        const dropped = await readOnceAndDrop(c.stream('dropped'));
        const queued = rejectsWith(c.send('queued'), 'SHUTDOWN');
        const queuedStream = rejectsWith(c.stream('queued stream')[Symbol.asyncIterator]().next(), 'SHUTDOWN');
        const report = await runtime.shutdown({ graceMs: 300 });
        assert.equal(report.forced, false, 'the workers exited by themselves');
        await queued;
        await queuedStream;
        await c.close();
        await rejectsWith(dropped.next(), 'SHUTDOWN');
        await rejectsWith(c.send('later'), 'SHUTDOWN');
        await rejectsWith(runtime.conversation({ model: 'parley-echo' }), 'SHUTDOWN');
        assert.deepEqual(c.messages, []);
      } finally {
        await runtime.shutdown();
        await own.close();
      }
    });
  });
}

/**
 * A backend that loses its answers: its chat never settles, its stream stops
 * after one event. The runtime never does this, but the turn's deadline must
 * not depend on it: the turn settles, the queue moves on, the stream is left.
 */
class SilentBackend implements ConversationRuntime {
  silent = true;
  streamsLeft = 0;

  chat(req: ChatRequest): Promise<ChatResult> {
    if (this.silent) return new Promise<ChatResult>(() => {});
    return Promise.resolve({ content: `echo: ${req.messages.at(-1)!.content}`, finishReason: 'stop', model: req.model, provider: 'silent' });
  }

  stream(): AsyncIterable<StreamEvent> {
    const backend = this;
    let sent = false;
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          if (sent) return new Promise<IteratorResult<StreamEvent>>(() => {});
          sent = true;
          return Promise.resolve({ value: { type: 'text', text: 'one' } as StreamEvent, done: false });
        },
        return: () => {
          backend.streamsLeft += 1;
          return Promise.resolve({ value: undefined, done: true as const });
        },
      }),
    };
  }
}

describe('conversation turns over a backend that loses its answers', () => {
  test('a chat that never answers fails with TIMEOUT at the turn deadline, and the next turn runs', async () => {
    const backend = new SilentBackend();
    const c = await openConversation(backend, { model: 'm' });
    await rejectsWith(c.send('lost', { timeoutMs: 100 }), 'TIMEOUT');
    backend.silent = false;
    await c.send('answered', { timeoutMs: 5_000 });
    assert.deepEqual(
      c.messages.map((m) => m.content),
      ['answered', 'echo: answered'],
    );
    await c.close();
  });

  test('a stream that stops answering: the pending next() fails with TIMEOUT at the deadline and the provider stream is left', async () => {
    const backend = new SilentBackend();
    const c = await openConversation(backend, { model: 'm' });
    const iterator = c.stream('stalls', { timeoutMs: 150 })[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    await rejectsWith(iterator.next(), 'TIMEOUT');
    assert.equal(backend.streamsLeft, 1);
    assert.deepEqual(await iterator.next(), { value: undefined, done: true });
    backend.silent = false;
    await c.send('next', { timeoutMs: 5_000 });
    await c.close();
  });
});
