/**
 * The provider worker dies (process.exit) or wedges (a blocked event loop the
 * heartbeat catches) between turns or in the middle of one. The turn in
 * flight fails with WORKER_CRASHED and leaves the history as it was; the next
 * turn works on the restarted worker, and the server sees the FULL history:
 * conversations live on the host side.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRuntime, type Conversation, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { hitWorker, withWorkerHooks, type WorkerFault } from './helpers/worker-hooks.ts';
import { rejectsWith } from './helpers/fixtures.ts';
import { assertSentWholeHistory, chatRequestCount, plain } from './fixtures/continuity-support.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const FAULTS: WorkerFault[] = ['crash', 'wedge'];
/** How long the server holds a doomed turn's headers, and that turn's deadline: far past any fault's landing. */
const HELD_MS = 60_000;

interface Setup {
  server: ModelServer;
  rt: Runtime;
  conversation: Conversation;
}

async function withSetup(body: (s: Setup) => Promise<void>): Promise<void> {
  // Slow enough that a turn is still streaming when the fault lands.
  const server = await startModelServer({ tokenDelayMs: 25 });
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers: testWorkers,
      providers: { ollama: { kind: 'ollama', baseUrl: server.url }, openai: { kind: 'openai', baseUrl: `${server.url}/v1` } },
      timeoutMs: 10_000,
      // Short enough to keep the wedge tests quick, long enough that a healthy
      // thread starved of CPU on a loaded machine is not taken for a wedged one.
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 1_500,
      restart: { backoffBaseMs: 10 },
      ...withWorkerHooks,
    });
    const conversation = await rt.conversation({ model: 'parley-echo', system: 'Be brief.', maxTokens: 4 });
    try {
      await body({ server, rt, conversation });
    } finally {
      await conversation.close();
    }
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await server.close();
  }
}

async function turns(conversation: Conversation, n: number, label: string): Promise<void> {
  for (let i = 1; i <= n; i++) await conversation.send(`${label} ${i}`);
}

/** Waits until the server has received one more chat request than `before`. */
async function requestArrived(server: ModelServer, before: number): Promise<void> {
  await waitFor(() => chatRequestCount(server) > before, { what: 'the turn reached the server' });
}

for (const fault of FAULTS) {
  describe(`worker ${fault}`, () => {
    test(`conversation: a ${fault} between turns loses no history; the next turn carries all of it`, async () => {
      await withSetup(async ({ server, rt, conversation }) => {
        await turns(conversation, 3, 'before');
        const crashed = once(rt, 'worker-crashed');
        await hitWorker(rt, fault);
        await crashed;
        assert.equal(conversation.messages.length, 1 + 2 * 3);
        await conversation.send('after the fault');
        assert.equal(conversation.messages.length, 1 + 2 * 4);
        assertSentWholeHistory(server, conversation.messages);
        assert.equal((await rt.stats()).restarts, 1);
      });
    });

    test(`conversation.send: a ${fault} mid-turn fails the turn with WORKER_CRASHED and leaves history untouched`, async () => {
      await withSetup(async ({ server, rt, conversation }) => {
        await turns(conversation, 3, 'before');
        const history = plain(conversation.messages);
        const before = chatRequestCount(server);
        // A non-streamed reply has no token delay: held headers keep this turn in
        // flight until the fault lands (WORKER_CRASHED, not TIMEOUT, says it did).
        server.injectFault({ kind: 'slow-headers', delayMs: HELD_MS });
        const turn = conversation.send('this one dies', { timeoutMs: HELD_MS });
        await requestArrived(server, before);
        await hitWorker(rt, fault);
        await rejectsWith(turn, 'WORKER_CRASHED');
        assert.deepEqual(plain(conversation.messages), history);
        await conversation.send('this one dies');
        assert.equal(conversation.messages.length, history.length + 2);
        assertSentWholeHistory(server, conversation.messages);
      });
    });

    test(`conversation.stream: a ${fault} mid-stream fails the turn with WORKER_CRASHED and leaves history untouched`, async () => {
      await withSetup(async ({ server, rt, conversation }) => {
        conversation.setProvider('openai');
        await turns(conversation, 3, 'before');
        const history = plain(conversation.messages);
        let texts = 0;
        // Quiet after its first token, so the fault meets it mid-stream however long it takes to land.
        server.injectFault({ kind: 'stall', afterTokens: 1 });
        const failed = (async () => {
          for await (const event of conversation.stream('this stream dies')) {
            if (event.type === 'text' && ++texts === 1) void hitWorker(rt, fault);
          }
        })();
        await rejectsWith(failed, 'WORKER_CRASHED');
        assert.ok(texts >= 1, 'the stream had started');
        assert.deepEqual(plain(conversation.messages), history);
        for await (const _ of conversation.stream('this stream dies')) {
          // read to the end
        }
        assert.equal(conversation.messages.length, history.length + 2);
        assertSentWholeHistory(server, conversation.messages);
      });
    });
  });
}

test('conversation: a turn sent as the worker dies either works or fails with WORKER_CRASHED, history untouched; the retry works', async () => {
  await withSetup(async ({ server, rt, conversation }) => {
    await turns(conversation, 2, 'before');
    const history = plain(conversation.messages);
    const crashed = once(rt, 'worker-crashed');
    await hitWorker(rt, 'crash');
    // No wait: the host cannot know yet that the worker is gone.
    try {
      await conversation.send('racing the crash');
    } catch (err) {
      assert.equal((err as { code?: string }).code, 'WORKER_CRASHED');
      assert.deepEqual(plain(conversation.messages), history);
      await conversation.send('racing the crash');
    }
    await crashed;
    assert.equal(conversation.messages.length, history.length + 2);
    assertSentWholeHistory(server, conversation.messages);
  });
});

test('conversation: repeated crashes across turns never lose a recorded turn', async () => {
  await withSetup(async ({ server, rt, conversation }) => {
    let recorded = 0;
    for (let round = 1; round <= 3; round++) {
      await turns(conversation, 2, `round ${round}`);
      recorded += 2;
      const before = chatRequestCount(server);
      server.injectFault({ kind: 'slow-headers', delayMs: HELD_MS });
      const turn = conversation.send(`round ${round} doomed`, { timeoutMs: HELD_MS });
      await requestArrived(server, before);
      await hitWorker(rt, 'crash');
      await rejectsWith(turn, 'WORKER_CRASHED');
      assert.equal(conversation.messages.length, 1 + 2 * recorded);
    }
    await conversation.send('survivor');
    assertSentWholeHistory(server, conversation.messages);
    assert.equal(conversation.messages.length, 1 + 2 * (recorded + 1));
    assert.equal((await rt.stats()).restarts, 3);
  });
});
