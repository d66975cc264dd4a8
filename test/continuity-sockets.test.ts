/**
 * 500 turns in one conversation while the server keeps taking sockets away:
 * it closes every keep-alive socket after 3 requests, drops them all every 7
 * turns, and some turns start right around its keep-alive timeout, so the
 * client picks a socket the server is closing. Not one turn may fail, and
 * every request must carry the whole history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type Conversation, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { assertSentWholeHistory, idle } from './fixtures/continuity-support.ts';
import { PROTOCOLS, providersFor } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const TURNS = 500;
const SERVER_KEEP_ALIVE_MS = 200;
const DROP_EVERY = 7;
/** Turns that start after an idle gap right around the server's keep-alive timeout. */
const GAP_TURNS = new Set([5, 40, 77, 111, 150, 188, 222, 260, 299, 333, 370, 404, 441, 470, 499]);
const SAMPLE_EVERY = 10;

test('conversation: 500 turns over ollama, openai and anthropic survive dropped and expiring sockets', async (t) => {
  let server: ModelServer | undefined;
  let rt: Runtime | undefined;
  let conversation: Conversation | undefined;
  try {
    // Without the hint, the client reuses sockets the server is about to close
    // (see ModelServerOptions.advertiseKeepAlive): the race under test.
    server = await startModelServer({ keepAliveTimeoutMs: SERVER_KEEP_ALIVE_MS, closeAfterRequests: 3, advertiseKeepAlive: false });
    rt = await createRuntime({ workers: testWorkers,
      providers: providersFor(server),
      timeoutMs: 10_000,
      // Longer than the server's: the client keeps sockets the server is about to close.
      keepAliveTimeoutMs: 1_000,
    });
    conversation = await rt.conversation({ model: 'parley-echo', system: 'You are terse.', maxTokens: 6 });

    const started = performance.now();
    const failures: string[] = [];
    let sampled = 0;
    for (let turn = 1; turn <= TURNS; turn++) {
      if (turn % DROP_EVERY === 0) server.dropConnections();
      if (GAP_TURNS.has(turn)) await idle(SERVER_KEEP_ALIVE_MS - 10 + (turn % 21));
      // A third of the turns on each protocol, in turn; half of the turns streamed.
      conversation.setProvider(PROTOCOLS[turn % 3]!);
      const before: number = conversation.messages.length;
      const text = `turn ${turn}: tell me something new`;
      try {
        if (turn % 4 < 2) {
          await conversation.send(text);
        } else {
          let done = false;
          for await (const event of conversation.stream(text)) if (event.type === 'done') done = true;
          assert.ok(done, 'the stream ended without done');
        }
      } catch (err) {
        failures.push(`turn ${turn}: ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
        continue;
      }
      assert.equal(conversation.messages.length, before + 2, `turn ${turn} should add 2 messages`);
      if (turn % SAMPLE_EVERY === 0 || GAP_TURNS.has(turn) || turn % DROP_EVERY === 0) {
        // system + 2·(n−1) prior messages + the new user message
        assertSentWholeHistory(server, conversation.messages, `turn ${turn}`);
        sampled++;
      }
    }
    const wallMs = Math.round(performance.now() - started);
    const { connectionsAccepted, requestsServed } = server.stats();
    const providers = (await rt.stats()).workers.flatMap((w) => w.providers);
    const retries = providers.reduce((n, p) => n + p.retries, 0);
    t.diagnostic(
      `turns=${TURNS} failures=${failures.length} wallMs=${wallMs} connectionsAccepted=${connectionsAccepted} ` +
        `requestsServed=${requestsServed} transportRetries=${retries} sampledHistoryChecks=${sampled} gapTurns=${GAP_TURNS.size}`,
    );
    assert.deepEqual(failures, []);
    assert.equal(conversation.messages.length, 1 + 2 * TURNS);
    // The sockets really were taken away, again and again.
    assert.ok(connectionsAccepted >= TURNS / 3, `expected many connections, got ${connectionsAccepted}`);
    // ...and reused in between: otherwise the keep-alive race was never run.
    assert.ok(connectionsAccepted < requestsServed, `expected reused sockets: ${connectionsAccepted} connections for ${requestsServed} requests`);
  } finally {
    await conversation?.close();
    await rt?.shutdown({ graceMs: 500 });
    await server?.close();
  }
});
