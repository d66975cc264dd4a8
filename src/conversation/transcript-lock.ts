/**
 * One writer per transcript: `<path>.lock` holds the writer's pid. Whoever's
 * pid the lock file holds, holds the lock; that is the only rule, and every
 * step below keeps it true when several processes arrive at once.
 *
 * - A free lock is created with O_EXCL: one creator wins.
 * - A stale lock (its pid is gone, or it stayed empty too long) is never
 *   deleted, because between a delete and a create a second opener could
 *   delete the lock the first one just created. It is replaced in place:
 *   the taker first creates `<path>.lock.takeover` with O_EXCL (one taker at
 *   a time), checks again that the lock still holds what it judged stale,
 *   then renames a private file holding its pid over the lock, which is
 *   atomic, so the lock never disappears in between. Then it reads the lock
 *   back: it holds the lock if the lock holds its pid.
 * - No file is ever unlinked by path unless its creator is the one doing
 *   it: a taker that died leaves its takeover file, and the next takers
 *   compete one level down (see takeOver).
 */
import { randomUUID } from 'node:crypto';
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync, unlinkSync } from 'node:fs';
import { ParleyError } from '../shared/errors.ts';
import { describeFsError, errnoCode } from './fs-errors.ts';

/** A lock or takeover file whose content has not appeared for this long was left by a writer that died creating it. */
const EMPTY_LOCK_STALE_MS = 5_000;
/** Enough for: a takeover, a dead taker's file removed before it, and a lock released between two looks. */
const LOCK_ATTEMPTS = 6;

/** Locks this process holds or is acquiring; those it holds are removed on a normal exit. */
const heldLocks = new Set<string>();
let exitHookInstalled = false;

function releaseAllOnExit(): void {
  for (const lockPath of heldLocks) {
    try {
      // One still being acquired may be someone else's.
      if (readFileSync(lockPath, 'utf8').trim() === String(process.pid)) unlinkSync(lockPath);
    } catch {
      // The process is exiting; a leftover lock is taken over as stale next time.
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return errnoCode(err) !== 'ESRCH';
  }
}

type Holder = { kind: 'gone' } | { kind: 'pid'; pid: number; text: string } | { kind: 'unreadable'; ageMs: number; text: string };

async function readHolder(path: string): Promise<Holder> {
  try {
    const [text, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
    const pid = Number(text.trim());
    if (Number.isSafeInteger(pid) && pid > 0) return { kind: 'pid', pid, text };
    return { kind: 'unreadable', ageMs: Date.now() - info.mtimeMs, text };
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'gone' };
    throw err;
  }
}

function isStale(holder: Holder): boolean {
  if (holder.kind === 'pid') return !isAlive(holder.pid);
  return holder.kind === 'unreadable' && holder.ageMs >= EMPTY_LOCK_STALE_MS;
}

/** Creates `path` holding `text` if no file is there; false if one is. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    if (errnoCode(err) === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(text);
  } finally {
    await handle.close();
  }
  return true;
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
}

async function readTextIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** How many takers in a row may have died inside one takeover before an opener gives up. */
const MAX_DEAD_TAKERS = 4;

/**
 * One attempt to replace the stale lock whose content was `staleText`; the
 * caller reads the lock afterwards to learn who won.
 *
 * The takeover file is a mutex: whoever created it (O_EXCL) may replace the
 * lock, after checking the lock still holds what was judged stale. The new
 * lock is the taker's own private file renamed over the lock, so a rename
 * never moves someone else's file into place. Only a mutex's creator removes
 * it. A mutex whose creator died is never unlinked by path (a live taker's
 * file could have replaced it between the look and the unlink): the next
 * taker competes for a mutex one level down, named after the dead one, and
 * the one that replaces the lock removes the dead mutexes above its own.
 * Nobody else can: a level is only ever created by one live taker at a time.
 */
async function takeOver(storePath: string, lockPath: string, staleText: string, mine: string): Promise<void> {
  let mutex = `${lockPath}.takeover`;
  const deadAbove: string[] = [];
  for (;;) {
    if (await createExclusive(mutex, mine)) break;
    const taker = await readHolder(mutex);
    // Its taker finished (and removed it): the lock tells who holds it now.
    if (taker.kind === 'gone') return;
    if (!isStale(taker)) {
      const who = taker.kind === 'pid' ? `pid ${taker.pid}` : 'another writer that is starting';
      throw new ParleyError('CONFIG', `transcript ${storePath} is being taken over by ${who} (its lock ${lockPath} was stale)`);
    }
    if (deadAbove.length >= MAX_DEAD_TAKERS) {
      throw new ParleyError('CONFIG', `transcript ${storePath}: ${deadAbove.length + 1} takers of its stale lock ${lockPath} died in a row; remove ${lockPath}* by hand`);
    }
    deadAbove.push(mutex);
    mutex = `${mutex}.${taker.kind === 'pid' ? taker.pid : 'empty'}`;
  }
  const fresh = `${lockPath}.${process.pid}.${randomUUID()}.new`;
  try {
    // We hold the mutex: check again that the lock still holds what was judged stale.
    if ((await readTextIfPresent(lockPath)) !== staleText) return;
    await writeFile(fresh, mine, { flag: 'wx' });
    await rename(fresh, lockPath);
    for (const dead of deadAbove) await unlinkIfPresent(dead);
  } finally {
    await unlinkIfPresent(fresh);
    await unlinkIfPresent(mutex);
  }
}

async function acquire(storePath: string, lockPath: string): Promise<void> {
  const mine = `${process.pid}\n`;
  for (let attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
    if (await createExclusive(lockPath, mine)) return;
    const holder = await readHolder(lockPath);
    if (holder.kind === 'gone') continue;
    // Our pid, and no other opener in this process is at it (heldLocks): our takeover landed,
    // or an earlier process with our pid died holding it (containers reuse low pids).
    if (holder.kind === 'pid' && holder.pid === process.pid) return;
    if (!isStale(holder)) {
      const who = holder.kind === 'pid' ? `pid ${holder.pid}` : 'another writer that is starting';
      throw new ParleyError('CONFIG', `transcript ${storePath} is locked by ${who}: close the other conversation first (lock file ${lockPath})`);
    }
    await takeOver(storePath, lockPath, holder.text, mine);
  }
  throw new ParleyError('CONFIG', `could not acquire the lock file ${lockPath} of transcript ${storePath} after ${LOCK_ATTEMPTS} attempts`);
}

/**
 * Takes the transcript's lock for this process. Rejects with CONFIG when a
 * live writer holds it (this process included) or the lock file cannot be
 * made (the message names the path and the reason).
 */
export async function acquireLock(storePath: string, lockPath: string): Promise<void> {
  if (heldLocks.has(lockPath)) {
    throw new ParleyError(
      'CONFIG',
      `transcript ${storePath} is locked by pid ${process.pid} (this process): close the other conversation first (lock file ${lockPath})`,
    );
  }
  heldLocks.add(lockPath);
  try {
    await acquire(storePath, lockPath);
  } catch (err) {
    heldLocks.delete(lockPath);
    if (err instanceof ParleyError) throw err;
    throw new ParleyError('CONFIG', `cannot lock transcript ${storePath}: lock file ${lockPath}: ${describeFsError(err)}`, { cause: err });
  }
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', releaseAllOnExit);
  }
}

/** Removes the lock if it is still ours: never a lock someone else took over. */
export async function releaseLock(lockPath: string): Promise<void> {
  heldLocks.delete(lockPath);
  if ((await readTextIfPresent(lockPath))?.trim() === String(process.pid)) await unlinkIfPresent(lockPath);
}
