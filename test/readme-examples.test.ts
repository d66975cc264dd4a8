/**
 * The README's examples run as written. Each ```ts block is run as its own
 * program, with `parley` and `parley/testing` pointing at this checkout, in
 * an empty directory and an environment with no provider settings; the
 * config-file example is given to `parley config`, which says plainly what
 * it needs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { transform } from 'esbuild';
import { cliEnv, REPO, runCli } from './cli-process.ts';
import { codeUrl, TS_LOADER } from './helpers/checkout.ts';

const INDEX = codeUrl('src/index.ts');
const TESTING = codeUrl('src/testing/index.ts');

function blocks(markdown: string, lang: string): string[] {
  // A block may be indented, inside a list item.
  return [...markdown.matchAll(new RegExp('^ *```' + lang + '\\n([\\s\\S]*?)^ *```$', 'gm'))].map((m) => m[1]!);
}

function runProgram(file: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TS_LOADER, file], { cwd, env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('README examples', async () => {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parley-readme-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const programs = blocks(readme, 'ts');
  test('there are examples to run', () => assert.ok(programs.length >= 3, `found ${programs.length}`));

  programs.forEach((source, i) => {
    const title = /^.*\S.*$/m.exec(source.replace(/^import .*$/gm, '').trim())?.[0] ?? '';
    test(`example #${i + 1} runs with no provider configured: ${title.slice(0, 60)}`, async () => {
      const program = source.replace(/from 'parley'/g, `from '${INDEX}'`).replace(/from 'parley\/testing'/g, `from '${TESTING}'`);
      const cwd = await mkdtemp(join(dir, `example-${i + 1}-`));
      // Its types stripped as tsx would (tsx is esbuild too), so under npm
      // test the example runs in plain node, as a host's compiled code does.
      const file = join(cwd, 'example.mjs');
      await writeFile(file, (await transform(program, { loader: 'ts', format: 'esm', target: 'node20' })).code);
      const { code, stdout, stderr } = await runProgram(file, cwd);
      assert.equal(code, 0, `example #${i + 1} failed\nstdout: ${stdout}\nstderr: ${stderr}`);
      assert.doesNotMatch(stderr, /Error|error \[/, stderr);
    });
  });

  test('the config-file example works with OPENROUTER_API_KEY set, and without it names the variable', async () => {
    const json = blocks(readme, 'json').find((b) => b.includes('apiKeyEnv'));
    assert.ok(json, 'the config-file example');
    const file = join(dir, 'config.json');
    await writeFile(file, json);
    const ok = await runCli(['config', '--json', '--config', file], { env: { OPENROUTER_API_KEY: 'sk-or-readme-0123456789' } });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { provider: string }).provider, 'home');
    const missing = await runCli(['config', '--config', file]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error \[CONFIG\]: .*apiKeyEnv names OPENROUTER_API_KEY, which is not set/);
    assert.match(readme, /This file needs `OPENROUTER_API_KEY` set/, 'the README says so');
  });
});
