/**
 * The CLI's request controls: --reasoning, --format json, --schema FILE and
 * --extra JSON reach the provider as request fields (read back from the
 * model server), and bad values are usage errors (exit 2).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { runCli } from './cli-process.ts';

describe('parley request flags', () => {
  let server: ModelServer;
  let dir: string;
  before(async () => {
    server = await startModelServer({ reasoning: false });
    dir = await mkdtemp(join(tmpdir(), 'parley-cli-flags-'));
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const lastChat = () => server.requests.filter((r) => r.path === '/api/chat').at(-1)!.body as Record<string, unknown>;
  const local = () => ['--base-url', server.url, '--kind', 'ollama'];

  test('ask --schema --reasoning --extra: the fields go to the provider and --json shows the validated object', async () => {
    const schemaPath = join(dir, 'city.json');
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    await writeFile(schemaPath, JSON.stringify(schema));
    const args = ['ask', '--json', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo'];
    const { code, stdout, stderr } = await runCli([...args, '--schema', schemaPath, '--reasoning', 'low', '--extra', '{"options":{"num_ctx":4096}}', 'Paris']);
    assert.equal(code, 0, stderr);
    const result = JSON.parse(stdout) as { object?: unknown };
    assert.deepEqual(result.object, { city: 'Paris' });
    const body = lastChat();
    assert.deepEqual(body.format, schema);
    assert.equal(body.think, 'low');
    assert.deepEqual(body.options, { num_ctx: 4096 });
  });

  test('chat --format json: every turn asks for JSON', async () => {
    const { code, stdout } = await runCli(['chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo', '--format', 'json'], { input: 'one\ntwo\n' });
    assert.equal(code, 0);
    assert.match(stdout, /"answer"/);
    assert.equal(lastChat().format, 'json');
  });

  test('bad values are usage errors naming the flag (exit 2)', async () => {
    for (const [flag, value] of [['--reasoning', 'max'], ['--format', 'yaml'], ['--extra', '[1]'], ['--schema', join(dir, 'missing.json')]]) {
      const { code, stderr } = await runCli(['ask', ...local(), flag!, value!, 'hi']);
      assert.equal(code, 2, `${flag} ${value}`);
      assert.match(stderr, new RegExp(flag!.replace(/-/g, '\\-')));
    }
  });
});
