/**
 * The CLI as a new user tries it: the environment they already have
 * (ANTHROPIC_BASE_URL, ANTHROPIC_AUTH_TOKEN), the mistakes they make (a /save
 * to a missing directory, a ~ in a path, a port in use, a URL without a
 * scheme, --kind anthropic without a key, chat --json), and --version.
 * Each mistake is a clear one-line error with its own exit code, never
 * UNEXPECTED (exit 1).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { USAGE } from '../src/cli/args.ts';
import { REPO, runCli } from './cli-process.ts';

const LOCAL_EXIT = 8;

describe('parley for a new user', () => {
  let server: ModelServer;
  let dir: string;
  before(async () => {
    server = await startModelServer();
    dir = await mkdtemp(join(tmpdir(), 'parley-cli-user-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const messagesCalls = () => server.requests.filter((r) => r.method === 'POST' && r.path === '/v1/messages');

  test('ANTHROPIC_BASE_URL is where the anthropic provider from the environment is reached', async () => {
    const before = messagesCalls().length;
    const key = 'sk-ant-cli-test-0123456789abcdef';
    const { code, stdout, stderr } = await runCli(['ask', '--model', 'parley-echo', 'hello gateway'], {
      env: { ANTHROPIC_API_KEY: key, ANTHROPIC_BASE_URL: server.url },
    });
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"hello gateway"/);
    const calls = messagesCalls().slice(before);
    assert.equal(calls.length, 1, 'the model server got the Messages call');
    assert.equal(calls[0]!.headers['x-api-key'], key);
  });

  test('ANTHROPIC_AUTH_TOKEN is sent as a Bearer token, and --kind anthropic takes the environment too', async () => {
    const before = messagesCalls().length;
    const token = 'gateway-token-0123456789abcdef';
    for (const args of [['ask', 'token please'], ['ask', '--kind', 'anthropic', 'token please']]) {
      const { code, stderr } = await runCli([...args, '--model', 'parley-echo'], { env: { ANTHROPIC_AUTH_TOKEN: token, ANTHROPIC_BASE_URL: server.url } });
      assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
    }
    const calls = messagesCalls().slice(before);
    assert.equal(calls.length, 2);
    for (const call of calls) assert.equal(call.headers.authorization, `Bearer ${token}`);

    const { stdout } = await runCli(['config', '--json'], { env: { ANTHROPIC_AUTH_TOKEN: token, ANTHROPIC_BASE_URL: server.url } });
    const view = JSON.parse(stdout) as { providers: Record<string, { authToken?: string; baseUrl?: string }> };
    assert.match(view.providers.anthropic!.authToken!, /…cdef$/, 'parley config shows a hint of the token');
    assert.ok(!stdout.includes(token) && !stdout.includes('0123456789'), 'never the token');
    assert.equal(view.providers.anthropic!.baseUrl, server.url);
  });

  test('--kind anthropic without a key says which environment variable to set (CONFIG, exit 2)', async () => {
    const { code, stderr } = await runCli(['ask', '--kind', 'anthropic', 'hi']);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /^error \[CONFIG\]: --kind anthropic needs a key: set ANTHROPIC_API_KEY[^\n]*\n$/);
    const openai = await runCli(['ask', '--kind', 'openai', 'hi']);
    assert.equal(openai.code, 2);
    assert.match(openai.stderr, /^error \[CONFIG\]: --kind openai needs --base-url URL .*set OPENAI_API_KEY/);
    const named = await runCli(['ask', '--provider', 'anthropic', 'hi']);
    assert.equal(named.code, 2);
    assert.match(named.stderr, /provider "anthropic" is not configured.*set ANTHROPIC_API_KEY/);
  });

  test('--base-url host:port without a scheme means http://; another host without one is explained', async () => {
    const hostPort = server.url.replace(/^http:\/\//, '');
    const { code, stdout, stderr } = await runCli(['ask', '--base-url', hostPort, '--model', 'parley-echo', 'no scheme']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"no scheme"/);
    const port = new URL(server.url).port;
    const local = await runCli(['ask', '--base-url', `localhost:${port}`, '--model', 'parley-echo', 'localhost']);
    assert.equal(local.code, 0, local.stderr);

    const remote = await runCli(['config', '--base-url', 'api.example.com/v1']);
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /^error \[CONFIG\]: --base-url needs a scheme: write http:\/\/api\.example\.com\/v1 or https:\/\/api\.example\.com\/v1\n$/);
  });

  test('/save to a missing directory is a clear error (exit 8) and the chat goes on', async () => {
    const target = join(dir, 'no-such-dir', 'chat.md');
    const { code, stdout, stderr } = await runCli(['chat', '--base-url', server.url, '--model', 'parley-echo'], { input: `first\n/save ${target}\nsecond\n` });
    assert.equal(code, LOCAL_EXIT, stderr);
    assert.match(stderr, /^error \[ENOENT\]: cannot save to .*no-such-dir.*chat\.md: the directory .*no-such-dir does not exist; create it first or save elsewhere$/m);
    assert.doesNotMatch(stderr, /UNEXPECTED|\n\s+at /);
    assert.match(stdout, /"second"/, 'the chat went on');
  });

  test('~ in a /save path and in --config is the home directory', async () => {
    const home = await mkdtemp(join(dir, 'home-'));
    const { code, stderr } = await runCli(['chat', '--base-url', server.url, '--model', 'parley-echo'], { input: 'remember me\n/save ~/saved.jsonl\n', env: { HOME: home } });
    assert.equal(code, 0, stderr);
    assert.match(stderr, new RegExp(`saved 2 messages to ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/saved\\.jsonl`));
    assert.match(await readFile(join(home, 'saved.jsonl'), 'utf8'), /"remember me"/);

    const missing = await runCli(['config', '--config=~/absent.json'], { env: { HOME: home } });
    assert.equal(missing.code, 2);
    assert.ok(missing.stderr.includes(`config file ${join(home, 'absent.json')} does not exist`), missing.stderr);
  });

  test('serve on a port in use is a clear error (exit 8), not UNEXPECTED', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const { code, stderr } = await runCli(['serve', '--port', String(port)]);
      assert.equal(code, LOCAL_EXIT, stderr);
      assert.match(stderr, new RegExp(`^error \\[EADDRINUSE\\]: port ${port} on 127\\.0\\.0\\.1 is in use .*--port 0[^\\n]*\\n$`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  test('--version and -v print the package version', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) {
      const { code, stdout } = await runCli([flag]);
      assert.equal(code, 0);
      assert.equal(stdout, `parley ${pkg.version}\n`);
    }
  });

  test('chat --json is refused with what to use instead (exit 2)', async () => {
    const { code, stderr } = await runCli(['chat', '--json']);
    assert.equal(code, 2);
    assert.match(stderr, /^error \[USAGE\]: chat has no --json output; for one reply as JSON use: parley ask --json "prompt"\n$/);
  });

  test('the usage text has no unbalanced quote', () => {
    for (const quote of ['"', "'", '`']) {
      for (const line of USAGE.split('\n')) assert.equal(line.split(quote).length % 2, 1, `unbalanced ${quote} in: ${line}`);
    }
  });
});
