import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { parseServeArgs, runServe } from '../src/testing/index.ts';
import { nodeScript } from './helpers/checkout.ts';

describe('model server as a standalone process (serve.ts)', () => {
  test('parseServeArgs() reads every flag, in both --flag value and --flag=value forms', () => {
    assert.deepEqual(
      parseServeArgs(['--port', '11434', '--token-delay-ms=20', '--models', 'a, b', '--reasoning', '--tools', 'never', '--fault', '{"kind":"reset","afterTokens":3}', '--close-after-requests', '2']),
      { port: 11434, tokenDelayMs: 20, models: ['a', 'b'], reasoning: true, tools: 'never', fault: { kind: 'reset', afterTokens: 3 }, closeAfterRequests: 2 },
    );
  });

  test('parseServeArgs() names the flag it cannot read', () => {
    assert.throws(() => parseServeArgs(['--port', 'x']), /--port must be a non-negative integer/);
    assert.throws(() => parseServeArgs(['--fault', '{"kind":"boom"}']), /--fault\.kind must be one of/);
    assert.throws(() => parseServeArgs(['--verbose']), /unknown option "--verbose"/);
  });

  test('runServe() starts a server, logs its URL, and its close() also drops the signal handlers', async () => {
    const lines: string[] = [];
    const sigint = process.listenerCount('SIGINT');
    const server = await runServe(['--port', '0', '--models', 'only-one'], (l) => lines.push(l));
    try {
      assert.deepEqual(lines, [`parley model server listening on ${server.url}`]);
      assert.equal(process.listenerCount('SIGINT'), sigint + 1);
      const tags = (await (await fetch(`${server.url}/api/tags`)).json()) as { models: { name: string }[] };
      assert.deepEqual(tags.models.map((m) => m.name), ['only-one']);
    } finally {
      await server.close();
    }
    assert.equal(process.listenerCount('SIGINT'), sigint);
  });

  test('src/testing/serve.ts as a process prints the listening line and exits cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [...nodeScript('src/testing/serve.ts'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      // Keep reading (not breaking out of a for-await, which would close the pipe under the child's feet).
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('\n')) resolve();
        });
        child.once('exit', () => reject(new Error(`serve.ts exited early: ${out}`)));
      });
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
      assert.ok(url, out);
      assert.equal(await (await fetch(url)).text(), 'Ollama is running');
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
      assert.match(out, /parley model server closed/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
