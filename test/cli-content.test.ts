/**
 * Content from the command line: `ask --image PATH` and `/image PATH` in a
 * chat send the file's bytes with the message (the embedded model server's
 * reply says what it saw), and a refusal, which comes as its own field and
 * not as text, is printed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { runCli } from './cli-process.ts';

describe('parley images and refusals on the command line', () => {
  let server: ModelServer;
  let dir: string;
  let picture: string;
  before(async () => {
    server = await startModelServer();
    dir = await mkdtemp(join(tmpdir(), 'parley-cli-images-'));
    picture = join(dir, 'screen.png');
    const bytes = Buffer.alloc(2048, 7);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    await writeFile(picture, bytes);
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('ask --image PATH sends the image with the prompt (every protocol)', async () => {
    for (const kind of ['ollama', 'openai', 'anthropic']) {
      const base = kind === 'openai' ? `${server.url}/v1` : server.url;
      const { code, stdout, stderr } = await runCli(['ask', '--base-url', base, '--kind', kind, '--model', 'parley-echo', '--image', picture, 'what', 'is', 'this?'], {
        env: { ANTHROPIC_API_KEY: 'sk-ant-cli-images' },
      });
      assert.equal(code, 0, `${kind}: ${stderr}`);
      assert.match(stdout, /"what is this\?".*I see 1 image \(image\/png, 2048 bytes\)/, kind);
    }
  });

  test('ask --image with a file that is not an image exits 2 (usage), a missing one 8 (a local file), each with one line', async () => {
    const text = join(dir, 'notes.txt');
    await writeFile(text, 'hello');
    for (const [path, exit] of [[text, 2], [join(dir, 'missing.png'), 8]] as const) {
      const { code, stderr } = await runCli(['ask', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo', '--image', path, 'x']);
      assert.equal(code, exit, stderr);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    }
  });

  test('ask prints a refusal (OpenAI sends it outside the content)', async () => {
    server.setOptions({ refusal: true });
    try {
      const { code, stdout, stderr } = await runCli(['ask', '--base-url', `${server.url}/v1`, '--kind', 'openai', '--model', 'parley-echo', 'do', 'it']);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /\(refused\) I'm sorry, but I can't help with that request\.\n$/);
    } finally {
      server.setOptions({ refusal: false });
    }
  });

  test('/image PATH in a chat goes with the next message only', async () => {
    const { code, stdout, stderr } = await runCli(['chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo'], {
      input: `/image ${picture}\nlook at this\nand now?\n`,
    });
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 2, stdout);
    assert.match(lines[0]!, /"look at this".*I see 1 image \(image\/png, 2048 bytes\)/);
    assert.doesNotMatch(lines[1]!, /I see/);
    assert.match(stderr, /attached .*screen\.png, 2048 bytes/);
  });
});
