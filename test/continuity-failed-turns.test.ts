/**
 * Every way a turn can fail against a real server leaves the history exactly
 * as it was, and simply trying again works and carries the whole history:
 * HTTP 500 (no retries), a deadline, an abort mid-stream, a stream left
 * early, a stream cut without its end marker, an error inside the stream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, type CallOptions, type Conversation, type ErrorCode, type Runtime } from '../src/index.ts';
import { startModelServer, type Fault, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { PROTOCOLS, providersFor, rejectsWith } from './helpers/fixtures.ts';
import { assertSentWholeHistory, chatRequestCount, plain } from './fixtures/continuity-support.ts';
import { testWorkers } from './helpers/workers-mode.ts';


/** One server and one runtime per provider's suite (worker start-up is the slow part); a fresh conversation per test. */
interface Shared {
  server: ModelServer;
  rt: Runtime;
}

async function startShared(): Promise<Shared> {
  const server = await startModelServer({ tokenDelayMs: 5 });
  try {
    const rt = await createRuntime({ workers: testWorkers,
      providers: providersFor(server),
      timeoutMs: 10_000,
      maxRetries: 0,
    });
    return { server, rt };
  } catch (err) {
    await server.close();
    throw err;
  }
}

async function stopShared(shared: Shared | undefined): Promise<void> {
  if (!shared) return;
  await shared.rt.shutdown({ graceMs: 500 });
  await shared.server.close();
}

async function withConversation(
  shared: Shared | undefined,
  provider: string,
  body: (server: ModelServer, conversation: Conversation) => Promise<void>,
): Promise<void> {
  assert.ok(shared, 'the suite did not start');
  const conversation = await shared.rt.conversation({ provider, model: 'parley-echo', system: 'Answer in a few words.', maxTokens: 12 });
  try {
    for (let i = 1; i <= 3; i++) await conversation.send(`warm-up ${i}`);
    await body(shared.server, conversation);
  } finally {
    await conversation.close();
    shared.server.setFault(undefined);
  }
}

/** Reads a stream turn to its end; with `onText`, runs it on each text event. */
async function streamTurn(conversation: Conversation, text: string, opts?: CallOptions, onText?: (n: number) => 'leave' | void): Promise<void> {
  let n = 0;
  for await (const event of conversation.stream(text, opts)) {
    if (event.type === 'text' && onText?.(++n) === 'leave') return;
  }
}

/** The failed turn left the history alone; the same text again succeeds and carries all of it. */
async function assertRetryWorks(server: ModelServer, conversation: Conversation, history: ReturnType<typeof plain>, text: string, streamed: boolean): Promise<void> {
  assert.deepEqual(plain(conversation.messages), history, 'the failed turn changed the history');
  if (streamed) await streamTurn(conversation, text);
  else await conversation.send(text);
  assert.equal(conversation.messages.length, history.length + 2);
  assertSentWholeHistory(server, conversation.messages, 'the retry');
  assert.deepEqual(plain(conversation.messages.slice(0, -2)), history);
  assert.deepEqual(plain([conversation.messages.at(-2)!]), [{ role: 'user', content: text }]);
}

interface FaultCase {
  title: string;
  fault: Fault;
  code: ErrorCode;
  /** Per-turn options (deadline). */
  opts?: CallOptions;
}

const FAULT_CASES: FaultCase[] = [
  { title: 'HTTP 500 with maxRetries 0', fault: { kind: 'status', status: 500, message: 'boom' }, code: 'HTTP' },
  { title: 'a deadline passed (slow headers > timeoutMs)', fault: { kind: 'slow-headers', delayMs: 3_000 }, code: 'TIMEOUT', opts: { timeoutMs: 300 } },
];

/**
 * For a turn the caller ends (abort, leaving the loop): the stream goes quiet
 * after 3 tokens, so the caller's move meets it mid-stream however late the
 * text events reach the host on a loaded machine.
 */
const QUIET_AFTER_3: Fault = { kind: 'stall', afterTokens: 3 };

const STREAM_FAULT_CASES: FaultCase[] = [
  { title: 'a stream cut without its end marker', fault: { kind: 'truncate', afterTokens: 3 }, code: 'INCOMPLETE' },
  { title: 'an error inside a 2xx stream', fault: { kind: 'stream-error', afterTokens: 3, message: 'model crashed' }, code: 'PROVIDER' },
];

for (const provider of PROTOCOLS) {
  describe(`failed turns over ${provider}`, () => {
    let shared: Shared | undefined;
    before(async () => {
      shared = await startShared();
    });
    after(() => stopShared(shared));

    for (const c of FAULT_CASES) {
      for (const streamed of [false, true]) {
        test(`conversation.${streamed ? 'stream' : 'send'}: ${c.title} fails with ${c.code}, history untouched, the retry works`, async () => {
          await withConversation(shared, provider, async (server, conversation) => {
            const history = plain(conversation.messages);
            server.injectFault(c.fault);
            const turn = streamed ? streamTurn(conversation, 'the faulty turn', c.opts) : conversation.send('the faulty turn', c.opts);
            const err = await rejectsWith(turn, c.code);
            if (c.code === 'HTTP') assert.equal(err.status, 500);
            await assertRetryWorks(server, conversation, history, 'the faulty turn', streamed);
          });
        });
      }
    }

    for (const c of STREAM_FAULT_CASES) {
      test(`conversation.stream: ${c.title} fails with ${c.code}, history untouched, the retry works`, async () => {
        await withConversation(shared, provider, async (server, conversation) => {
          const history = plain(conversation.messages);
          server.injectFault(c.fault);
          let texts = 0;
          await rejectsWith(
            streamTurn(conversation, 'the faulty stream', undefined, (n) => void (texts = n)),
            c.code,
          );
          assert.ok(texts >= 1, 'the stream had started before the fault');
          await assertRetryWorks(server, conversation, history, 'the faulty stream', true);
        });
      });
    }

    test('conversation.send: an error reported in a 2xx body fails with PROVIDER, history untouched, the retry works', async () => {
      await withConversation(shared, provider, async (server, conversation) => {
        const history = plain(conversation.messages);
        server.injectFault({ kind: 'stream-error', message: 'model crashed' });
        await rejectsWith(conversation.send('the faulty body'), 'PROVIDER');
        await assertRetryWorks(server, conversation, history, 'the faulty body', false);
      });
    });

    test('conversation.stream: an abort mid-stream fails with ABORTED, history untouched, the retry works', async () => {
      await withConversation(shared, provider, async (server, conversation) => {
        const history = plain(conversation.messages);
        const controller = new AbortController();
        server.injectFault(QUIET_AFTER_3);
        await rejectsWith(
          streamTurn(conversation, 'the aborted stream', { signal: controller.signal }, (n) => {
            if (n === 2) controller.abort();
          }),
          'ABORTED',
        );
        await assertRetryWorks(server, conversation, history, 'the aborted stream', true);
      });
    });

    test('conversation.send: an abort while the reply is awaited fails with ABORTED, history untouched, the retry works', async () => {
      await withConversation(shared, provider, async (server, conversation) => {
        const history = plain(conversation.messages);
        const controller = new AbortController();
        server.injectFault({ kind: 'slow-headers', delayMs: 3_000 });
        const before = chatRequestCount(server);
        const turn = conversation.send('the aborted send', { signal: controller.signal });
        await waitFor(() => chatRequestCount(server) > before, { what: 'the turn reached the server' });
        controller.abort();
        await rejectsWith(turn, 'ABORTED');
        await assertRetryWorks(server, conversation, history, 'the aborted send', false);
      });
    });

    test('conversation.stream: leaving the loop early records nothing, and the next turn works', async () => {
      await withConversation(shared, provider, async (server, conversation) => {
        const history = plain(conversation.messages);
        let texts = 0;
        server.injectFault(QUIET_AFTER_3);
        await streamTurn(conversation, 'the abandoned stream', undefined, (n) => {
          texts = n;
          return n === 2 ? 'leave' : undefined;
        });
        assert.equal(texts, 2);
        await assertRetryWorks(server, conversation, history, 'the abandoned stream', true);
      });
    });
  });
}

test('conversation with a store: failed turns write nothing; a reopened store holds exactly the completed turns', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-continuity-failed-'));
  const store = join(dir, 'chat.jsonl');
  const server = await startModelServer({ tokenDelayMs: 5 });
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers: testWorkers,
      providers: providersFor(server),
      timeoutMs: 10_000,
      maxRetries: 0,
    });
    const conversation = await rt.conversation({ model: 'parley-echo', system: 'Stored.', store, maxTokens: 8 });
    let expected: ReturnType<typeof plain>;
    try {
      await conversation.send('first');
      const failures: [Fault | 'abort' | 'leave', ErrorCode | undefined][] = [
        [{ kind: 'status', status: 500 }, 'HTTP'],
        [{ kind: 'truncate', afterTokens: 2 }, 'INCOMPLETE'],
        [{ kind: 'stream-error', afterTokens: 2 }, 'PROVIDER'],
        ['abort', 'ABORTED'],
        ['leave', undefined],
      ];
      for (const [i, [fault, code]] of failures.entries()) {
        conversation.setProvider(PROTOCOLS[i % 3]!);
        const controller = new AbortController();
        // An abort or a leave must meet the stream before it ends: it goes quiet after 3 tokens.
        server.injectFault(typeof fault === 'object' ? fault : QUIET_AFTER_3);
        const turn = streamTurn(conversation, `failing ${i}`, { signal: controller.signal }, (n) => {
          if (n < 2) return;
          if (fault === 'abort') controller.abort();
          if (fault === 'leave') return 'leave';
        });
        if (code) await rejectsWith(turn, code);
        else await turn;
        assert.equal(conversation.messages.length, 3, `failure ${i} changed the history`);
      }
      await conversation.send('last');
      expected = plain(conversation.messages);
    } finally {
      await conversation.close();
    }
    const lines = (await readFile(store, 'utf8')).trim().split('\n');
    assert.equal(lines.length, 3, 'a header and the two completed turns');
    const reopened = await rt.conversation({ model: 'parley-echo', store });
    try {
      assert.deepEqual(plain(reopened.messages), expected);
      await reopened.send('after reopening');
      assertSentWholeHistory(server, reopened.messages);
    } finally {
      await reopened.close();
    }
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
