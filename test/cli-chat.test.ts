import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ANSI, runCli } from './cli-process.ts';

describe('parley chat with piped stdin', () => {
  let server: ModelServer;
  let dir: string;
  before(async () => {
    server = await startModelServer();
    dir = await mkdtemp(join(tmpdir(), 'parley-cli-chat-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const local = () => ['--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo'];

  test('chat answers each line, in one conversation, and exits 0 (embedded server by default)', async () => {
    const { code, stdout, stderr } = await runCli(['chat'], { input: 'hi\nagain\n' });
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, stdout);
    assert.match(lines[0]!, /"hi".*turn 1, answered by parley-echo/);
    assert.match(lines[1]!, /"again".*turn 2, answered by parley-echo/);
  });

  test('chat is the default command', async () => {
    const { code, stdout } = await runCli([], { input: 'hello\n' });
    assert.equal(code, 0);
    assert.match(stdout, /"hello".*turn 1/);
  });

  test('chat output has no ANSI escapes when piped, even with colors allowed', async () => {
    for (const env of [{}, { NO_COLOR: '1' }] as Record<string, string>[]) {
      const { stdout, stderr } = await runCli(['chat', ...local()], { input: 'plain please\n/nope\n', env });
      assert.doesNotMatch(stdout, ANSI);
      assert.doesNotMatch(stderr, ANSI);
      assert.match(stdout, /"plain please"/);
    }
  });

  test('/model switches the model for the next message', async () => {
    const { code, stdout, stderr } = await runCli(['chat', ...local()], { input: '/model parley-small\nwho are you\n' });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"who are you".*answered by parley-small/);
    assert.match(stderr, /\(model: parley-small\)/);
  });

  test('/reset forgets the turns: the next message is turn 1 again', async () => {
    const { code, stdout } = await runCli(['chat', ...local()], { input: 'one\ntwo\n/reset\nthree\n' });
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[1]!, /"two".*turn 2/);
    assert.match(lines[2]!, /"three".*turn 1,/);
  });

  test('/save writes the transcript as JSONL, or as Markdown for .md', async () => {
    const jsonl = join(dir, 'chat.jsonl');
    const md = join(dir, 'chat.md');
    const { code, stderr } = await runCli(['chat', ...local(), '--system', 'be brief'], { input: `first\n/save ${jsonl}\n/save ${md}\n` });
    assert.equal(code, 0, stderr);
    const messages = (await readFile(jsonl, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { role: string; content: string });
    assert.deepEqual(messages.map((m) => m.role), ['system', 'user', 'assistant']);
    assert.equal(messages[1]!.content, 'first');
    const markdown = await readFile(md, 'utf8');
    assert.match(markdown, /^## user\n\nfirst$/m);
    assert.match(markdown, /^## assistant$/m);
  });

  test('piped, /models, /stats, /help and /provider print to stderr, so stdout holds only replies; /exit stops before the next line', async () => {
    const { code, stdout, stderr } = await runCli(['chat', ...local()], { input: '/models\n/stats\n/help\n/provider\nreply me\n/exit\nnever sent\n' });
    assert.equal(code, 0, stderr);
    assert.match(stderr, /parley-small/);
    assert.match(stderr, /state running/);
    assert.match(stderr, /\/save PATH/);
    assert.match(stderr, /^\* local \(ollama\)$/m);
    assert.equal(stdout.trimEnd().split('\n').length, 1, stdout);
    assert.match(stdout, /^[^\n]*"reply me"[^\n]*\n$/);
    assert.doesNotMatch(stdout + stderr, /never sent/);
  });

  test('/provider refuses an unknown provider and the chat goes on', async () => {
    const { code, stdout, stderr } = await runCli(['chat', ...local()], { input: '/provider nowhere\nstill here\n' });
    assert.match(stderr, /^error \[USAGE\]: provider "nowhere" is not configured/m);
    assert.match(stdout, /"still here"/);
    assert.equal(code, 2, 'a failed line makes a piped chat exit non-zero');
  });

  test('a failed turn is reported in one line and does not end the chat; the exit code tells', async () => {
    const { code, stdout, stderr } = await runCli(['chat', '--base-url', 'http://127.0.0.1:1', '--kind', 'ollama'], { input: 'a\nb\n' });
    assert.equal(code, 3);
    assert.equal(stdout, '');
    const errors = stderr.trimEnd().split('\n');
    assert.equal(errors.length, 2, stderr);
    for (const line of errors) assert.match(line, /^error \[UNREACHABLE\]: could not connect to provider "local"/);
  });
});
