/**
 * Stale-lock takeover is atomic: several processes open a transcript at the
 * same moment, its lock left by a writer that died, and exactly one of them
 * gets it, every time; the others get CONFIG. The openers are separate
 * processes because the race is between processes (within one process the
 * held-lock set already refuses a second opener).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { nodeScript } from './helpers/checkout.ts';

const CONTENDERS = 3;
const TRIALS = 100;

class Contender {
  readonly process: ChildProcess;
  readonly #answers: string[] = [];
  #waiting: ((line: string) => void) | undefined;
  stderr = '';

  constructor() {
    this.process = spawn(process.execPath, nodeScript('test/fixtures/lock-contender.ts'), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.process.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      const waiting = this.#waiting;
      this.#waiting = undefined;
      if (waiting) waiting(line);
      else this.#answers.push(line);
    });
  }

  /** Sends one command and resolves with its answer; rejects if the child exits first. */
  ask(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const queued = this.#answers.shift();
      if (queued !== undefined) return resolve(queued);
      const onExit = (code: number | null) => reject(new Error(`contender exited (${code}) before answering ${command}: ${this.stderr}`));
      this.process.once('exit', onExit);
      this.#waiting = (line) => {
        this.process.off('exit', onExit);
        resolve(line);
      };
      this.process.stdin!.write(`${command}\n`);
    });
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = once(this.process, 'exit');
    this.process.stdin!.end();
    await exited;
  }
}

let dir: string;
let contenders: Contender[];
/** Pids of processes that have exited: the holders of the stale locks. */
let deadPids: [number, number];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parley-takeover-'));
  contenders = Array.from({ length: CONTENDERS }, () => new Contender());
  deadPids = [spawnSync(process.execPath, ['-e', '']).pid!, spawnSync(process.execPath, ['-e', '']).pid!];
});
after(async () => {
  await Promise.all(contenders.map((c) => c.stop()));
  rmSync(dir, { recursive: true, force: true });
});

const staleKinds: { name: string; leave: (lockPath: string) => void }[] = [
  { name: 'a lock whose pid is gone', leave: (lockPath) => writeFileSync(lockPath, `${deadPids[0]}\n`) },
  {
    name: 'an empty lock left long ago by a writer that died creating it',
    leave: (lockPath) => {
      writeFileSync(lockPath, '');
      const longAgo = new Date(Date.now() - 60_000);
      utimesSync(lockPath, longAgo, longAgo);
    },
  },
  {
    name: 'a dead lock and a takeover file left by a taker that died too',
    leave: (lockPath) => {
      writeFileSync(lockPath, `${deadPids[0]}\n`);
      writeFileSync(`${lockPath}.takeover`, `${deadPids[1]}\n`);
    },
  },
  {
    name: 'a dead lock and two takers that died in a row, one inside the other\'s takeover',
    leave: (lockPath) => {
      writeFileSync(lockPath, `${deadPids[0]}\n`);
      writeFileSync(`${lockPath}.takeover`, `${deadPids[1]}\n`);
      writeFileSync(`${lockPath}.takeover.${deadPids[1]}`, `${deadPids[0]}\n`);
    },
  },
];

describe('stale-lock takeover', () => {
  for (const kind of staleKinds) {
    test(`${kind.name}: of ${CONTENDERS} processes opening at once, exactly one wins, ${TRIALS} times out of ${TRIALS}`, async () => {
      for (let trial = 0; trial < TRIALS; trial++) {
        const path = join(dir, `${staleKinds.indexOf(kind)}-${trial}.jsonl`);
        const lockPath = `${path}.lock`;
        kind.leave(lockPath);
        const startAt = Date.now() + 15;
        const answers = await Promise.all(contenders.map((c) => c.ask(`open ${path} ${startAt}`)));
        const winners = contenders.filter((_, i) => answers[i] === 'won');
        assert.equal(winners.length, 1, `trial ${trial}: answers ${answers.join(', ')}`);
        for (const answer of answers) if (answer !== 'won') assert.equal(answer, 'lost CONFIG', `trial ${trial}`);
        const winner = winners[0]!;
        assert.equal(readFileSync(lockPath, 'utf8').trim(), String(winner.process.pid), `trial ${trial}: the lock names the winner`);
        assert.equal(await winner.ask('close'), 'closed');
        assert.ok(!existsSync(lockPath), `trial ${trial}: close() removed the lock`);
        const left = readdirSync(dir).filter((f) => f.startsWith(`${staleKinds.indexOf(kind)}-${trial}.jsonl.lock`));
        assert.deepEqual(left, [], `trial ${trial}: no lock, takeover or private file is left behind`);
        const turns = readFileSync(path, 'utf8')
          .split('\n')
          .filter((line) => line.includes('"turn"'));
        assert.deepEqual(turns.length, 1, `trial ${trial}: only the winner wrote a turn`);
      }
    });
  }
});
