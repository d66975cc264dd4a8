import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative as relativePath } from 'node:path';
import { openConversation, type ConversationRuntime, type Conversation } from '../src/conversation/conversation.ts';
import { hasCode } from '../src/shared/errors.ts';
import { TranscriptStore } from '../src/conversation/transcript-store.ts';
import type { ChatRequest, ChatResult, Message } from '../src/shared/types.ts';
import { nodeScript } from './helpers/checkout.ts';

const echo: ConversationRuntime = {
  async chat(req: ChatRequest): Promise<ChatResult> {
    return { content: `echo: ${req.messages.at(-1)!.content}`, finishReason: 'stop', model: req.model, provider: 'echo' };
  },
  async *stream() {
    throw new Error('not used here');
  },
};

let dir: string;
let counter = 0;
const storePath = () => join(dir, `t${++counter}.jsonl`);
const lines = (path: string) => readFileSync(path, 'utf8').split('\n');
const records = (path: string) =>
  lines(path)
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { type: string; messages?: Message[] });
const noWarnings = (message: string) => assert.fail(`unexpected warning: ${message}`);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-store-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function withConversation<T>(
  path: string,
  fn: (c: Conversation) => Promise<T>,
  onWarning: (message: string) => void = noWarnings,
): Promise<T> {
  const conversation = await openConversation(echo, { model: 'm1', system: 'be brief', store: path, onWarning });
  try {
    return await fn(conversation);
  } finally {
    await conversation.close();
  }
}

describe('TranscriptStore', () => {
  test('a reopened store resumes the same messages, system included', async () => {
    const path = storePath();
    const before = await withConversation(path, async (c) => {
      await c.send('one');
      await c.send('two');
      return c.messages;
    });
    assert.equal(before.length, 5);
    const resumed = await openConversation(echo, { model: 'm2', store: path, onWarning: noWarnings });
    try {
      assert.deepEqual(resumed.messages, before);
      await resumed.send('three');
      assert.equal(resumed.messages.length, 7);
    } finally {
      await resumed.close();
    }
    const [header] = records(path);
    assert.equal(header!.type, 'header');
  });

  test('send() resolves only after the turn is in the file', async () => {
    const path = storePath();
    await withConversation(path, async (c) => {
      await c.send('durable');
      const last = records(path).at(-1)!;
      assert.equal(last.type, 'turn');
      assert.deepEqual(
        last.messages!.map((m) => [m.role, m.content]),
        [
          ['user', 'durable'],
          ['assistant', 'echo: durable'],
        ],
      );
      assert.ok(readFileSync(path, 'utf8').endsWith('\n'));
    });
  });

  test('the token-estimate calibration is stored with each turn and restored on reopen', async () => {
    const path = storePath();
    const first = await TranscriptStore.open(path, { model: 'm', onWarning: noWarnings });
    assert.equal(first.calibration, undefined);
    await first.appendTurn([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], 1.25);
    await first.appendTurn([{ role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }], 1.5);
    await first.close();
    const reopened = await TranscriptStore.open(path, { model: 'm', onWarning: noWarnings });
    try {
      assert.equal(reopened.calibration, 1.5);
      assert.equal(reopened.messages.length, 4);
    } finally {
      await reopened.close();
    }
  });

  test('reset() is recorded so a resume starts empty', async () => {
    const path = storePath();
    await withConversation(path, async (c) => {
      await c.send('forget me');
      await c.reset();
      assert.deepEqual(c.messages, [{ role: 'system', content: 'be brief' }]);
      await c.send('after');
    });
    await withConversation(path, async (c) => {
      assert.deepEqual(
        c.messages.map((m) => m.content),
        ['be brief', 'after', 'echo: after'],
      );
    });
  });

  test('a streamed turn is in the file when the done event arrives', async () => {
    const path = storePath();
    const streaming: ConversationRuntime = {
      chat: echo.chat,
      async *stream(req) {
        yield { type: 'text', text: 'streamed' };
        yield { type: 'done', result: { content: 'streamed', finishReason: 'stop', model: req.model, provider: 'echo' } };
      },
    };
    const c = await openConversation(streaming, { model: 'm', store: path });
    try {
      for await (const event of c.stream('go')) {
        if (event.type === 'done') assert.equal(records(path).at(-1)!.messages![1]!.content, 'streamed');
      }
    } finally {
      await c.close();
    }
  });

  test('fork({ store }) writes the shared history to the new store', async () => {
    const path = storePath();
    const forkPath = storePath();
    await withConversation(path, async (c) => {
      await c.send('shared');
      const f = await c.fork({ store: forkPath });
      try {
        await f.send('only in fork');
      } finally {
        await f.close();
      }
      await c.send('only in original');
    });
    await withConversation(forkPath, async (f) => {
      assert.deepEqual(
        f.messages.map((m) => m.content),
        ['be brief', 'shared', 'echo: shared', 'only in fork', 'echo: only in fork'],
      );
    });
    await withConversation(path, async (c) => assert.equal(c.messages.length, 5));
  });

  for (const [name, tail] of [
    ['a half-written record', '{"type":"turn","messages":[{"role":"user","cont'],
    ['a complete record without its newline', '{"type":"turn","messages":[{"role":"user","content":"lost"}]}'],
    ['zeros left by the filesystem', '\0\0\0\0\0\0'],
  ] as const) {
    test(`a torn last line (${name}) is dropped with a warning and later appends are valid`, async () => {
      const path = storePath();
      await withConversation(path, (c) => c.send('kept'));
      appendFileSync(path, tail);
      const warnings: string[] = [];
      await withConversation(
        path,
        async (c) => {
          assert.deepEqual(
            c.messages.map((m) => m.content),
            ['be brief', 'kept', 'echo: kept'],
          );
          await c.send('next');
        },
        (message) => void warnings.push(message),
      );
      assert.equal(warnings.length, 1);
      assert.ok(warnings[0]!.includes(path));
      const text = readFileSync(path, 'utf8');
      assert.ok(text.endsWith('\n'));
      assert.equal(records(path).length, 3, 'header + 2 turns, every line valid JSON');
      await withConversation(path, async (c) => assert.equal(c.messages.length, 5));
    });
  }

  test('a corrupt line that is not the last is refused with CONFIG naming the path and line', async () => {
    const path = storePath();
    await withConversation(path, async (c) => {
      await c.send('one');
      await c.send('two');
    });
    const all = lines(path);
    all[1] = '{"type":"turn","messa';
    writeFileSync(path, all.join('\n'));
    await assert.rejects(openConversation(echo, { model: 'm', store: path }), (err: unknown) => {
      assert.ok(hasCode(err, 'CONFIG'));
      assert.ok(err.message.includes(path) && err.message.includes('line 2'), err.message);
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), all.join('\n'), 'the file is left untouched');
    assert.ok(!existsSync(`${path}.lock`), 'a refused open releases the lock');
  });

  test('a file that is not a transcript is refused, not truncated', async () => {
    const path = storePath();
    writeFileSync(path, 'my notes');
    await assert.rejects(openConversation(echo, { model: 'm', store: path }), (err) => hasCode(err, 'CONFIG'));
    assert.equal(readFileSync(path, 'utf8'), 'my notes');
  });

  test('a second writer gets CONFIG; the first continues unharmed', async () => {
    const path = storePath();
    await withConversation(path, async (first) => {
      await first.send('one');
      await assert.rejects(openConversation(echo, { model: 'm', store: path }), (err: unknown) => {
        assert.ok(hasCode(err, 'CONFIG'));
        assert.ok(err.message.includes(`pid ${process.pid}`), err.message);
        return true;
      });
      await assert.rejects(first.fork({ store: path }), (err) => hasCode(err, 'CONFIG'));
      const relative = relativePath(process.cwd(), path);
      await assert.rejects(openConversation(echo, { model: 'm', store: relative }), (err) => hasCode(err, 'CONFIG'));
      await first.send('two');
    });
    await withConversation(path, async (c) => assert.equal(c.messages.length, 5));
  });

  test('a stale lock (its pid is gone) is taken over', async () => {
    const path = storePath();
    await withConversation(path, (c) => c.send('one'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    writeFileSync(`${path}.lock`, `${dead}\n`);
    await withConversation(path, async (c) => {
      assert.equal(readFileSync(`${path}.lock`, 'utf8').trim(), String(process.pid));
      await c.send('two');
    });
    assert.ok(!existsSync(`${path}.lock`), 'close() removes the lock');
  });

  test('close() is idempotent and refuses later turns', async () => {
    const path = storePath();
    const c = await openConversation(echo, { model: 'm', store: path });
    await Promise.all([c.close(), c.close()]);
    await c.close();
    await assert.rejects(c.send('late'), (err) => hasCode(err, 'SHUTDOWN'));
  });

  test('TranscriptStore.open creates the header once', async () => {
    const path = storePath();
    const store = await TranscriptStore.open(path, { model: 'mx', system: 's' });
    assert.equal(store.header.model, 'mx');
    await store.appendTurn([{ role: 'user', content: 'a' }]);
    await store.close();
    const again = await TranscriptStore.open(path, { model: 'other' });
    assert.equal(again.header.model, 'mx');
    assert.deepEqual(again.messages, [{ role: 'user', content: 'a' }]);
    await again.close();
    assert.equal(records(path).filter((r) => r.type === 'header').length, 1);
  });

  test('a writer killed with SIGKILL mid-loop loses at most the turn in flight', async () => {
    const path = storePath();
    const child = spawn(process.execPath, [...nodeScript('test/fixtures/store-writer.ts'), path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let acknowledged = 0;
    let buffered = '';
    const enough = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const done = buffered.split('\n');
        buffered = done.pop()!;
        for (const n of done) acknowledged = Number(n);
        if (acknowledged >= 30) resolve();
      });
      child.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    try {
      await enough;
      // While it runs, another process cannot write.
      await assert.rejects(openConversation(echo, { model: 'm', store: path }), (err: unknown) => {
        assert.ok(hasCode(err, 'CONFIG'));
        assert.ok(err.message.includes(`pid ${child.pid}`), err.message);
        return true;
      });
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    // Read what the child acknowledged up to its death.
    for (const n of buffered.split('\n')) if (n) acknowledged = Number(n);

    const warnings: string[] = [];
    await withConversation(
      path,
      async (c) => {
        const turns = (c.messages.length - 1) / 2;
        assert.ok(Number.isInteger(turns), 'whole turns only');
        assert.ok(turns >= acknowledged && turns <= acknowledged + 1, `${turns} turns, ${acknowledged} acknowledged`);
        c.messages.slice(1).forEach((m, i) => {
          const n = Math.floor(i / 2) + 1;
          assert.ok((m.content as string).startsWith(i % 2 === 0 ? `turn ${n} ` : `echo turn ${n} `));
        });
        await c.send('after the crash');
      },
      (message) => void warnings.push(message),
    );
    assert.ok(warnings.length <= 1);
    assert.ok(records(path).every((r) => r.type === 'header' || r.type === 'turn'));
  });
});
