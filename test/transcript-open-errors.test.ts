/**
 * A store that cannot be opened for appending is CONFIG naming the path and
 * the reason, never a raw Node error; nothing is left behind (no lock file,
 * no open file handle), and the same path works once the cause is gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openConversation, type ConversationRuntime } from '../src/conversation/conversation.ts';
import { ParleyError } from '../src/shared/errors.ts';
import type { ChatRequest, ChatResult } from '../src/shared/types.ts';
import { nodeScript, REPO } from './helpers/checkout.ts';

const echo: ConversationRuntime = {
  async chat(req: ChatRequest): Promise<ChatResult> {
    return { content: `echo: ${req.messages.at(-1)!.content}`, finishReason: 'stop', model: req.model, provider: 'echo' };
  },
  async *stream() {
    throw new Error('not used here');
  },
};

/** Root ignores file modes: the permission cases then run in a child under this uid (nobody). */
const UNPRIVILEGED_UID = 65534;
const isRoot = process.getuid?.() === 0;

interface Outcome {
  opened?: boolean;
  code?: string;
  message?: string;
  causeCode?: string;
}

/** Opens (and closes) the store as a process that file modes apply to. */
async function openWhereModesApply(path: string): Promise<Outcome> {
  if (!isRoot) {
    try {
      const conversation = await openConversation(echo, { model: 'm', store: path });
      await conversation.close();
      return { opened: true };
    } catch (err) {
      const e = err as ParleyError;
      return { code: e.code, message: e.message, causeCode: (e.cause as { code?: string } | undefined)?.code };
    }
  }
  const child = spawnSync(process.execPath, [...nodeScript('test/fixtures/store-opener.ts'), path], { cwd: REPO, uid: UNPRIVILEGED_UID, gid: UNPRIVILEGED_UID, encoding: 'utf8' });
  assert.equal(child.status, 0, `the opener ran: ${child.stderr}`);
  return JSON.parse(child.stdout) as Outcome;
}

/** Paths this process has open, from /proc/self/fd (Linux). */
function openPaths(): string[] {
  if (!existsSync('/proc/self/fd')) return [];
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-open-errors-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Case {
  name: string;
  /** Makes the unopenable store; returns its path and a function that removes the cause. */
  make: (base: string) => { path: string; fix: () => void };
}

const cases: Case[] = [
  {
    name: 'a path that is a directory',
    make: (base) => {
      mkdirSync(base);
      return { path: base, fix: () => rmSync(base, { recursive: true }) };
    },
  },
  {
    name: 'a path under a regular file',
    make: (base) => {
      writeFileSync(base, 'not a directory');
      return { path: join(base, 'chat.jsonl'), fix: () => (rmSync(base), mkdirSync(base)) };
    },
  },
  {
    name: 'a path in a directory that does not exist',
    make: (base) => ({ path: join(base, 'missing', 'chat.jsonl'), fix: () => mkdirSync(join(base, 'missing'), { recursive: true }) }),
  },
  {
    name: 'a symbolic link that points at itself',
    make: (base) => {
      symlinkSync(base, base);
      return { path: base, fix: () => rmSync(base) };
    },
  },
];

describe('opening a store that cannot be written', () => {
  cases.forEach((c, i) => {
    test(`${c.name}: CONFIG naming the path and the reason; nothing left behind; it opens once fixed`, async () => {
      const { path, fix } = c.make(join(dir, `case-${i}`));
      const err = await openConversation(echo, { model: 'm', store: path }).then(
        () => assert.fail('the open succeeded'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ParleyError, `expected a ParleyError, got ${String(err)}`);
      assert.equal(err.code, 'CONFIG');
      assert.ok(err.message.includes(path), `the message names the path: ${err.message}`);
      const causeCode = (err.cause as { code?: unknown } | undefined)?.code;
      assert.ok(typeof causeCode === 'string', 'the Node error is kept as cause');
      assert.ok(err.message.includes(causeCode), `the message gives the reason: ${err.message}`);
      assert.ok(!existsSync(`${path}.lock`), 'no lock file is left behind');
      assert.deepEqual(
        openPaths().filter((p) => p.startsWith(dir)),
        [],
        'no file handle is left open',
      );

      fix();
      const conversation = await openConversation(echo, { model: 'm', store: path });
      await conversation.send('now it works');
      await conversation.close();
      assert.ok(!existsSync(`${path}.lock`));
    });
  });
});

describe('opening a store without permission', () => {
  const permissionCases: Case[] = [
    {
      name: 'a transcript this process may not write',
      make: (base) => {
        // The directory is writable (the lock can be made); the transcript is not.
        mkdirSync(base, { mode: 0o777 });
        chmodSync(base, 0o777);
        const path = join(base, 'chat.jsonl');
        writeFileSync(path, '');
        chmodSync(path, 0o444);
        return { path, fix: () => chmodSync(path, 0o666) };
      },
    },
    {
      name: 'a directory this process may not write in',
      make: (base) => {
        mkdirSync(base);
        chmodSync(base, 0o555);
        return { path: join(base, 'chat.jsonl'), fix: () => chmodSync(base, 0o777) };
      },
    },
  ];
  before(() => chmodSync(dir, 0o755));
  permissionCases.forEach((c, i) => {
    test(`${c.name}: CONFIG naming the path and the reason; nothing left behind; it opens once fixed${isRoot ? ' (as uid 65534)' : ''}`, async () => {
      const { path, fix } = c.make(join(dir, `permission-${i}`));
      const outcome = await openWhereModesApply(path);
      assert.equal(outcome.code, 'CONFIG', JSON.stringify(outcome));
      assert.ok(outcome.message?.includes(path), `the message names the path: ${outcome.message}`);
      assert.ok(outcome.causeCode && outcome.message?.includes(outcome.causeCode), `the message gives the reason: ${outcome.message}`);
      assert.ok(!existsSync(`${path}.lock`), 'no lock file is left behind');
      fix();
      assert.deepEqual(await openWhereModesApply(path), { opened: true });
    });
  });
});
