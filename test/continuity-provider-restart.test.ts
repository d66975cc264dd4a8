/**
 * The provider goes away and comes back (a restart on the same port, or a
 * spell of refused connections), and the host's runtime itself is shut down
 * and created again: the conversation carries on with its whole history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, type Conversation, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { PROTOCOLS, providersFor, rejectsWith } from './helpers/fixtures.ts';
import { assertSentWholeHistory, plain } from './fixtures/continuity-support.ts';
import { testWorkers } from './helpers/workers-mode.ts';

async function withConversation(
  runtimeOptions: { maxRetries?: number },
  body: (server: ModelServer, rt: Runtime, conversation: Conversation) => Promise<void>,
): Promise<void> {
  const server = await startModelServer();
  let rt: Runtime | undefined;
  try {
    rt = await createRuntime({ workers: testWorkers, providers: providersFor(server), timeoutMs: 10_000, ...runtimeOptions });
    const conversation = await rt.conversation({ model: 'parley-echo', system: 'Keep it short.', maxTokens: 5 });
    try {
      await body(server, rt, conversation);
    } finally {
      await conversation.close();
    }
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await server.close();
  }
}

test('conversation: server.restart() between turns; every next turn works and carries the whole history', async () => {
  await withConversation({}, async (server, _rt, conversation) => {
    for (let round = 1; round <= 6; round++) {
      // Every provider holds pooled keep-alive sockets to the server that restarts.
      for (const [i, provider] of PROTOCOLS.entries()) {
        conversation.setProvider(provider);
        if ((round + i) % 2) await conversation.send(`round ${round} on ${provider}`);
        else
          for await (const _ of conversation.stream(`round ${round} on ${provider}`)) {
            // read to the end
          }
      }
      await server.restart();
      conversation.setProvider(PROTOCOLS[round % 3]!);
      await conversation.send(`round ${round} after the restart`);
      assertSentWholeHistory(server, conversation.messages, `round ${round}`);
      assert.equal(conversation.messages.length, 1 + 2 * (PROTOCOLS.length + 1) * round);
    }
  });
});

test('conversation.stream: server.restart() mid-stream fails the turn with CONNECTION, history untouched; the retry has it all', async () => {
  await withConversation({}, async (server, _rt, conversation) => {
    for (const provider of PROTOCOLS) {
      conversation.setProvider(provider);
      await conversation.send(`${provider} warm-up`);
      const history = plain(conversation.messages);
      let restarting: Promise<void> | undefined;
      // The stream goes quiet after its first token, so the restart meets it
      // mid-stream however late the text event reaches this thread.
      server.injectFault({ kind: 'stall', afterTokens: 1 });
      const cut = (async () => {
        for await (const event of conversation.stream(`${provider} cut short`)) {
          if (event.type === 'text') restarting ??= server.restart();
        }
      })();
      await rejectsWith(cut, 'CONNECTION');
      await restarting;
      assert.deepEqual(plain(conversation.messages), history);
      for await (const _ of conversation.stream(`${provider} cut short`)) {
        // read to the end
      }
      assert.equal(conversation.messages.length, history.length + 2);
      assertSentWholeHistory(server, conversation.messages, `${provider} after the restart`);
    }
  });
});

test('conversation: refused connections fail the turn with UNREACHABLE, history untouched; once back, the next turn has it all', async () => {
  await withConversation({ maxRetries: 0 }, async (server, _rt, conversation) => {
    for (const provider of PROTOCOLS) {
      conversation.setProvider(provider);
      for (let i = 1; i <= 3; i++) await conversation.send(`${provider} before ${i}`);
      const history = plain(conversation.messages);
      await server.refuse(true);
      try {
        await rejectsWith(conversation.send(`${provider} while refused`), 'UNREACHABLE');
        const streamed = (async () => {
          for await (const _ of conversation.stream(`${provider} while refused`)) {
            // nothing arrives
          }
        })();
        await rejectsWith(streamed, 'UNREACHABLE');
        assert.deepEqual(plain(conversation.messages), history);
      } finally {
        await server.refuse(false);
      }
      await conversation.send(`${provider} while refused`);
      assert.equal(conversation.messages.length, history.length + 2);
      assertSentWholeHistory(server, conversation.messages, `${provider} after refuse(false)`);
    }
  });
});

test('conversation with a store: 20 runtimes in a row in one process resume the same transcript and grow it', async (t) => {
  const RUNTIMES = 20;
  const TURNS = 3;
  const dir = await mkdtemp(join(tmpdir(), 'parley-continuity-'));
  const store = join(dir, 'chat.jsonl');
  const server = await startModelServer();
  const started = performance.now();
  try {
    for (let r = 0; r < RUNTIMES; r++) {
      const rt = await createRuntime({ workers: testWorkers, providers: providersFor(server), timeoutMs: 10_000 });
      try {
        const conversation = await rt.conversation({
          provider: PROTOCOLS[r % 3]!,
          model: 'parley-echo',
          // Only the first run names the system message; the rest take it from the store's header.
          ...(r === 0 ? { system: 'You remember everything.' } : {}),
          store,
        });
        try {
          assert.equal(conversation.messages.length, 1 + 2 * TURNS * r, `runtime ${r + 1} resumed the wrong history`);
          assert.deepEqual(conversation.messages[0], { role: 'system', content: 'You remember everything.' });
          for (let i = 1; i <= TURNS; i++) {
            await conversation.send(`runtime ${r + 1} turn ${i}`);
            assertSentWholeHistory(server, conversation.messages, `runtime ${r + 1} turn ${i}`);
          }
        } finally {
          await conversation.close();
        }
      } finally {
        // The default grace: in pool mode a short one (500 ms) can end before
        // a thread still loading its modules has answered the close, and that
        // thread is then terminated (forced), though it holds nothing.
        const report = await rt.shutdown();
        assert.equal(report.forced, false, 'the worker should exit by itself');
      }
    }
    const rt = await createRuntime({ workers: testWorkers, providers: providersFor(server) });
    try {
      const resumed = await rt.conversation({ model: 'parley-echo', store });
      assert.equal(resumed.messages.length, 1 + 2 * TURNS * RUNTIMES);
      assert.deepEqual(
        resumed.messages.filter((m) => m.role === 'user').map((m) => m.content),
        Array.from({ length: RUNTIMES * TURNS }, (_, k) => `runtime ${Math.floor(k / TURNS) + 1} turn ${(k % TURNS) + 1}`),
      );
      await resumed.close();
    } finally {
      await rt.shutdown({ graceMs: 500 });
    }
    t.diagnostic(`runtimes=${RUNTIMES} turns=${RUNTIMES * TURNS} failures=0 wallMs=${Math.round(performance.now() - started)}`);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
