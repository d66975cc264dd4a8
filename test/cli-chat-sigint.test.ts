/**
 * `printf 'one\ntwo\nthree\nfour\n' | parley chat` against a slow provider,
 * with SIGINT while "two" streams: the chat stops at once, exits 6 as the
 * README says, and "three" and "four" are never sent.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';
import { CLI_ARGS, cliEnv, REPO } from './cli-process.ts';

describe('parley chat, piped, stopped by SIGINT', () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer({ tokenDelayMs: 20 });
    // "one" is answered; "two" streams two tokens and then nothing, so it is still streaming when the signal comes, whatever the load.
    server.injectFault({ kind: 'slow-headers', delayMs: 0 });
    server.injectFault({ kind: 'stall', afterTokens: 2 });
  });
  after(async () => {
    await server.close();
  });

  test('stops the reply in progress, sends no later line, and exits 6', async () => {
    const child = spawn(process.execPath, [...CLI_ARGS, 'chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo'], {
      cwd: REPO,
      env: cliEnv(),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.stdin.end('one\ntwo\nthree\nfour\n');

    const chats = () => server.requests.filter((r) => r.method === 'POST' && r.path === '/api/chat');
    const lastUserLine = (body: unknown) => {
      const messages = (body as { messages: { role: string; content: string }[] }).messages;
      return messages[messages.length - 1]!.content;
    };
    const replyToTwo = () => stdout.split('\n')[1] ?? '';
    // A CLI process starts its runtime and answers "one" first: under the
    // stress run (every core busy) that took more than the usual 20 s guard.
    await waitFor(() => chats().length === 2 && replyToTwo() !== '', { what: 'the reply to "two" streaming', timeoutMs: 60_000 });
    assert.equal(lastUserLine(chats()[1]!.body), 'two');
    child.kill('SIGINT');

    const [code, signal] = await exited;
    assert.equal(signal, null, `the CLI handles SIGINT itself (stderr: ${stderr})`);
    assert.equal(code, 6, stderr);
    assert.deepEqual(chats().map((r) => lastUserLine(r.body)), ['one', 'two'], 'three and four are never sent');
    assert.match(stdout, /"one"/);
    assert.doesNotMatch(stdout, /"three"|"four"/);
  });
});
