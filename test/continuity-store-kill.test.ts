/**
 * The host process is killed (SIGKILL) in the middle of a turn, several times
 * over. The next process opens the same store without an exception and finds
 * every acknowledged turn (at most the turn in flight is lost), and its next
 * turn carries the whole history to the server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRuntime, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { assertSentWholeHistory, chatRequestCount } from './fixtures/continuity-support.ts';
import { testWorkers } from './helpers/workers-mode.ts';
import { nodeScript, REPO } from './helpers/checkout.ts';

const KILLS = 3;
const TURNS_PER_LIFE = 4;
const FAST_TOKEN_MS = 2;
/** Slow enough that the turn in flight cannot finish before the kill. */
const STALLED_TOKEN_MS = 60_000;

interface Child {
  process: ChildProcess;
  /** The child's turn count after each acknowledged turn, and its count on resume. */
  lines: string[];
  stderr: string[];
}

function spawnChild(storePath: string, server: ModelServer): Child {
  const child = spawn(process.execPath, [...nodeScript('test/fixtures/continuity-child.ts'), storePath, server.url], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  return { process: child, lines, stderr };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

test('conversation with a store: SIGKILL mid-turn, again and again; the next process resumes every acknowledged turn', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'parley-continuity-kill-'));
  const storePath = join(dir, 'chat.jsonl');
  const server = await startModelServer({ tokenDelayMs: FAST_TOKEN_MS });
  const started = performance.now();
  let child: Child | undefined;
  let expectedTurns = 0;
  let lostInFlight = 0;
  /** Position in the history -> text of the turns this process sent (the child numbers its turns by position). */
  const parentTurns = new Map<number, string>();
  try {
    for (let life = 1; life <= KILLS; life++) {
      server.setOptions({ tokenDelayMs: FAST_TOKEN_MS });
      const spawned = spawnChild(storePath, server);
      child = spawned;
      const what = (condition: string) => `${condition} (child stderr: ${spawned.stderr.join('').slice(-2_000)})`;
      await waitFor(() => spawned.lines.length >= 1 || spawned.process.exitCode !== null, { what: what('the child resumed') });
      assert.equal(spawned.lines[0], `resumed ${expectedTurns}`, what('the child resumed the wrong history'));

      // Let it complete a few turns, then stall the stream of the next one and kill it mid-turn.
      await waitFor(() => spawned.lines.length > TURNS_PER_LIFE || spawned.process.exitCode !== null, { what: what('turns completed') });
      server.setOptions({ tokenDelayMs: STALLED_TOKEN_MS });
      const acknowledged = () => Number(spawned.lines.at(-1));
      // The turn in flight is the one after the last acknowledged; wait until the server holds it.
      await waitFor(
        () => chatRequestCount(server) > 0 && server.requests.some((r) => JSON.stringify(r.body ?? '').includes(`child turn ${acknowledged() + 1}"`)),
        { what: what('the turn in flight reached the server') },
      );
      assert.equal(spawned.process.exitCode, null, what('the child exited on its own'));
      await kill(spawned.process);
      const completed = acknowledged();
      assert.ok(completed >= expectedTurns + TURNS_PER_LIFE);
      server.setOptions({ tokenDelayMs: FAST_TOKEN_MS });

      // Resume in this process: no exception, every acknowledged turn, nothing beyond the one in flight.
      const rt: Runtime = await createRuntime({ workers: testWorkers, providers: { ollama: { kind: 'ollama', baseUrl: server.url } }, timeoutMs: 10_000 });
      try {
        const warnings: string[] = [];
        const conversation = await rt.conversation({ model: 'parley-echo', store: storePath, maxTokens: 6, onWarning: (m) => warnings.push(m) });
        try {
          const turns = (conversation.messages.length - 1) / 2;
          assert.ok(Number.isInteger(turns), `the history should be whole turns (${conversation.messages.length} messages)`);
          assert.ok(turns === completed || turns === completed + 1, `resumed ${turns} turns, ${completed} were acknowledged`);
          if (turns === completed) lostInFlight++;
          assert.deepEqual(conversation.messages[0], { role: 'system', content: 'You survive kills.' });
          assert.deepEqual(
            conversation.messages.filter((m) => m.role === 'user').map((m) => m.content),
            Array.from({ length: turns }, (_, k) => parentTurns.get(k) ?? `child turn ${k + 1}`),
          );
          assert.ok(conversation.messages.filter((m) => m.role === 'assistant').every((m) => m.content.length > 0));
          parentTurns.set(turns, `parent turn after kill ${life}`);
          await conversation.send(parentTurns.get(turns)!);
          assertSentWholeHistory(server, conversation.messages, `the turn after kill ${life}`);
          expectedTurns = turns + 1;
          t.diagnostic(`kill ${life}: acknowledged=${completed} resumed=${turns} warnings=${warnings.length}`);
        } finally {
          await conversation.close();
        }
      } finally {
        await rt.shutdown({ graceMs: 500 });
      }
    }
    t.diagnostic(`kills=${KILLS} turnsOnDisk=${expectedTurns} inFlightLost=${lostInFlight} failures=0 wallMs=${Math.round(performance.now() - started)}`);
  } finally {
    if (child) await kill(child.process);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
