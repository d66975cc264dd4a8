import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ANSI, CLI_ARGS, cliEnv, REPO, runCli } from './cli-process.ts';

describe('parley one-shot commands', () => {
  let server: ModelServer;
  let dir: string;
  before(async () => {
    server = await startModelServer();
    dir = await mkdtemp(join(tmpdir(), 'parley-cli-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const local = () => ['--base-url', server.url, '--kind', 'ollama'];

  test('ask streams one reply to stdout and exits 0', async () => {
    const { code, stdout, stderr } = await runCli(['ask', ...local(), '--model', 'parley-small', 'what', 'is', 'up']);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /"what is up".*answered by parley-small.*\n$/);
    assert.equal(stderr, '');
    assert.doesNotMatch(stdout, ANSI);
  });

  test('ask reads the prompt from stdin when none is given', async () => {
    const { code, stdout } = await runCli(['ask', ...local(), '--model', 'parley-echo'], { input: 'from a pipe\n' });
    assert.equal(code, 0);
    assert.match(stdout, /"from a pipe"/);
  });

  test('ask --json prints the whole result', async () => {
    const { code, stdout } = await runCli(['ask', '--json', ...local(), '--model', 'parley-echo', 'json please']);
    assert.equal(code, 0);
    const result = JSON.parse(stdout) as { content: string; provider: string; model: string; finishReason: string };
    assert.equal(result.provider, 'local');
    assert.equal(result.model, 'parley-echo');
    assert.match(result.content, /"json please"/);
  });

  test('an unreachable provider: one line with UNREACHABLE, no stack, exit 3', async () => {
    const { code, stdout, stderr } = await runCli(['ask', '--base-url', 'http://127.0.0.1:1', '--kind', 'ollama', 'hi']);
    assert.equal(code, 3);
    assert.equal(stdout, '');
    assert.match(stderr, /^error \[UNREACHABLE\]: could not connect to provider "local"[^\n]*\n$/);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });

  test('--debug adds the stack trace', async () => {
    const { code, stderr } = await runCli(['ask', '--debug', '--base-url', 'http://127.0.0.1:1', '--kind', 'ollama', 'hi']);
    assert.equal(code, 3);
    assert.match(stderr, /\n\s+at /);
  });

  test('an HTTP error status exits 4, a deadline exits 5', async () => {
    server.injectFault({ kind: 'status', status: 400, message: 'no such thing' });
    const http = await runCli(['ask', ...local(), '--model', 'parley-echo', 'hi']);
    assert.equal(http.code, 4, http.stderr);
    assert.match(http.stderr, /^error \[HTTP\]: /);

    server.injectFault({ kind: 'stall', afterTokens: 1 });
    const slow = await runCli(['ask', ...local(), '--model', 'parley-echo', '--timeout-ms', '400', 'hi']);
    assert.equal(slow.code, 5, slow.stderr);
    assert.match(slow.stderr, /error \[TIMEOUT\]: /);
  });

  test('usage mistakes exit 2 with a one-line error', async () => {
    for (const args of [['frobnicate'], ['ask', '--no-such-flag', 'x'], ['ask'], ['models', '--timeout-ms', 'soon'], ['chat', '--kind', 'nope']]) {
      const { code, stderr } = await runCli(args);
      assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
      assert.match(stderr, /^error \[(USAGE|CONFIG)\]: [^\n]+\n$/, args.join(' '));
    }
  });

  test('help prints the usage with the exit codes', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /usage: parley <command>/);
    assert.match(stdout, /exit codes:/);
  });

  test('models --json parses and lists the server models', async () => {
    const { code, stdout } = await runCli(['models', '--json', ...local()]);
    assert.equal(code, 0);
    const models = JSON.parse(stdout) as { id: string }[];
    assert.deepEqual(models.map((m) => m.id), ['parley-echo', 'parley-small']);
    const table = await runCli(['models', ...local()]);
    assert.match(table.stdout, /^parley-small$/m);
  });

  test('health --json reports every provider; a provider down sets the exit code', async () => {
    const ok = await runCli(['health', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const reports = JSON.parse(ok.stdout) as { provider: string; ok: boolean }[];
    assert.deepEqual(reports.map((r) => [r.provider, r.ok]), [['local', true]]);

    const down = await runCli(['health', '--json', '--base-url', 'http://127.0.0.1:1', '--kind', 'ollama']);
    assert.equal(down.code, 3);
    const [report] = JSON.parse(down.stdout) as { ok: boolean; error: { code: string } }[];
    assert.equal(report!.ok, false);
    assert.equal(report!.error.code, 'UNREACHABLE');
  });

  test('config shows OPENAI_API_KEY from the environment redacted', async () => {
    const key = 'sk-test-abcdefghijklmnopqrstuvwxyz123456';
    for (const args of [['config'], ['config', '--json']]) {
      const { code, stdout } = await runCli(args, { env: { OPENAI_API_KEY: key } });
      assert.equal(code, 0);
      assert.ok(!stdout.includes(key), 'the key never appears');
      assert.ok(!stdout.includes('abcdefghijklmnop'), 'no large part of it either');
      assert.match(stdout, /sk-…3456/);
    }
    const { stdout } = await runCli(['config', '--json'], { env: { OPENAI_API_KEY: key } });
    const view = JSON.parse(stdout) as { provider: string; providers: Record<string, { apiKey: string; source: string }> };
    assert.equal(view.provider, 'openai');
    assert.equal(view.providers.openai!.source, 'env');
  });

  test('config: flags beat the file, the file beats the environment', async () => {
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        providers: { work: { kind: 'openai', baseUrl: 'http://127.0.0.1:9/v1', apiKeyEnv: 'WORK_KEY' } },
        defaultProvider: 'work',
        model: 'from-file',
        timeoutMs: 5000,
      }),
    );
    const env = { PARLEY_CONFIG: file, WORK_KEY: 'secret-work-key-0123456789', OLLAMA_HOST: '127.0.0.1:11434', PARLEY_MODEL: 'from-env' };
    const fromFile = JSON.parse((await runCli(['config', '--json'], { env })).stdout) as Record<string, unknown> & { providers: Record<string, { apiKey?: string; baseUrl?: string }> };
    assert.equal(fromFile.provider, 'work');
    assert.equal(fromFile.model, 'from-file');
    assert.equal(fromFile.timeoutMs, 5000);
    assert.equal(fromFile.providers.work!.apiKey, 'secret-…6789');
    assert.equal(fromFile.providers.ollama!.baseUrl, 'http://127.0.0.1:11434');

    const fromFlags = JSON.parse((await runCli(['config', '--json', '--provider', 'ollama', '--model', 'from-flag', '--timeout-ms', '7'], { env })).stdout) as Record<string, unknown>;
    assert.equal(fromFlags.provider, 'ollama');
    assert.equal(fromFlags.model, 'from-flag');
    assert.equal(fromFlags.timeoutMs, 7);

    const missing = await runCli(['config', '--config', join(dir, 'absent.json')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error \[CONFIG\]: config file .*absent\.json does not exist/);
  });

  test('config: an unknown key in the config file is CONFIG naming it and the nearest known one', async () => {
    for (const [key, nearest] of [['maxRetry', 'maxRetries'], ['modle', 'model']] as const) {
      const file = join(dir, `typo-${key}.json`);
      await writeFile(file, JSON.stringify({ [key]: 1 }));
      const result = await runCli(['config', '--config', file]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /^error \[CONFIG\]: /);
      assert.ok(result.stderr.includes(key) && result.stderr.includes(`did you mean ${nearest}?`), result.stderr);
    }
  });

  test('serve runs the model server standalone until SIGTERM', async () => {
    const child = spawn(process.execPath, [...CLI_ARGS, 'serve', '--port', '0', '--token-delay-ms', '0', '--faults', '{"kind":"status","status":503}'], {
      cwd: REPO,
      env: cliEnv(),
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: string) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`serve exited early: ${out}`)));
    });
    const tags = (await (await fetch(`${url}/api/tags`)).json()) as { models: { name: string }[] };
    assert.ok(tags.models.some((m) => m.name === 'parley-echo'));
    const chat = await fetch(`${url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'parley-echo', messages: [{ role: 'user', content: 'x' }] }) });
    assert.equal(chat.status, 503, 'the --faults flag is applied');
    await chat.body?.cancel();
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });
});
