/**
 * The interactive chat on a real pseudo-terminal (util-linux `script`):
 * Ctrl-C cancels the reply in progress and the program keeps answering;
 * Ctrl-C twice at an empty prompt, or Ctrl-D, quits with 0.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { CLI_ARGS, cliEnv, REPO } from './cli-process.ts';

const hasScript = process.platform === 'linux' && spawnSync('script', ['--version']).status === 0;

function quote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

class Terminal {
  readonly child: ChildProcessWithoutNullStreams;
  output = '';
  #waiters = new Set<() => void>();

  constructor(args: string[], env: Record<string, string> = {}) {
    const command = [process.execPath, ...CLI_ARGS, ...args].map(quote).join(' ');
    this.child = spawn('script', ['-qfec', command, '/dev/null'], { cwd: REPO, env: cliEnv({ TERM: 'xterm', ...env }) });
    const onData = (d: Buffer) => {
      this.output += d.toString('utf8');
      for (const wake of this.#waiters) wake();
    };
    this.child.stdout.on('data', onData);
    this.child.stderr.on('data', onData);
  }

  /** Resolves when the output after `from` matches; fails with what was seen. */
  waitFor(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(this.output.slice(from));
        if (!m) return;
        done();
        resolve(from + m.index + m[0].length);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern}; output so far:\n${JSON.stringify(this.output)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  type(text: string): void {
    this.child.stdin.write(text);
  }

  async exitCode(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    const [code] = (await once(this.child, 'exit')) as [number | null];
    return code;
  }
}

describe('parley chat on a terminal', { skip: !hasScript && 'needs util-linux script' }, () => {
  let server: ModelServer;
  before(async () => {
    server = await startModelServer({ tokenDelayMs: 40 });
  });
  after(async () => {
    await server.close();
  });

  test('Ctrl-C cancels the reply in progress; the chat answers the next line; Ctrl-C twice quits with 0', async () => {
    const term = new Terminal(['chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo']);
    try {
      let at = await term.waitFor(/you › /);
      term.type('tell me a long story\r');
      at = await term.waitFor(/answered by/, at);
      term.type('\x03');
      at = await term.waitFor(/\(cancelled\)/, at);
      assert.equal(term.child.exitCode, null, 'still running after Ctrl-C');
      term.type('and now?\r');
      // The cancelled turn was not recorded: this is turn 1, and it completes.
      at = await term.waitFor(/"and now\?".*turn 1, answered by parley-echo[^\n]*\n[^\n]*tokens/, at);
      at = await term.waitFor(/you › /, at);
      term.type('\x03');
      at = await term.waitFor(/press Ctrl-C again/, at);
      term.type('\x03');
      assert.equal(await term.exitCode(), 0);
    } finally {
      term.child.kill('SIGKILL');
    }
  });

  test('Ctrl-D at the prompt quits with 0; colors on a terminal, none with NO_COLOR', async () => {
    const colored = new Terminal(['chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo']);
    const plain = new Terminal(['chat', '--base-url', server.url, '--kind', 'ollama', '--model', 'parley-echo'], { NO_COLOR: '1' });
    try {
      for (const term of [colored, plain]) {
        await term.waitFor(/you › /);
        term.type('\x04');
        assert.equal(await term.exitCode(), 0);
      }
      assert.match(colored.output, /\x1b\[36myou › /);
      // readline's own cursor movement remains; the text itself carries no SGR color codes.
      assert.doesNotMatch(plain.output, /\x1b\[[0-9;]*m/);
    } finally {
      colored.child.kill('SIGKILL');
      plain.child.kill('SIGKILL');
    }
  });
});
