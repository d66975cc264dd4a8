/**
 * Start-up and shutdown, as a process that starts cold pays them (issue
 * #20): every sample is a fresh node process (lifecycle-sample.mjs), so
 * no module cache and no V8 warm-up hides what a CLI `parley ask` or a
 * host's first call costs. Per sample, timed inside the child: import of
 * parley, createRuntime() until it resolves, the first reply (from the
 * createRuntime call), the second reply, shutdown() of the idle runtime;
 * then a second runtime with a stream in flight and shutdown({ graceMs }),
 * and, seen from this process, how long the child took to exit after it.
 * References from the same run, in fresh processes too: a bare worker
 * thread's start and exit, import('undici') alone, and the wall time of the
 * CLI's `parley ask`. Samples of all contenders interleave (A B C, then
 * C B A), so drift on a shared machine lands on each alike.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toParleyRequest } from '../contenders/parley.ts';
import { baselineEntry, parleyEntry } from '../parley-module.ts';
import type { Plan } from '../plan.ts';
import { Progress } from '../progress.ts';
import { startServerProcess } from '../server-process.ts';
import { median, spread } from '../stats.ts';
import { longReply, MODEL, SHORT_CHAT } from '../workload.ts';
import type { BenchEnv } from './compare.ts';
import { bar, type BarResult, type ContenderResult, type ScenarioResult } from './result.ts';

const SAMPLE = fileURLToPath(new URL('../lifecycle-sample.mjs', import.meta.url));
/** The grace the in-flight shutdown gets: short, so the stream is surely still running when it ends. */
const GRACE_MS = 50;
/** Goals from issue #20. */
const FIRST_REPLY_BAR_MS = 100;
const IDLE_SHUTDOWN_BAR_MS = 20;
/** The in-flight shutdown's goal: the grace, then what closing an idle runtime may take, twice over. */
const IN_FLIGHT_BAR_MS = GRACE_MS + 2 * IDLE_SHUTDOWN_BAR_MS;
/** Tokens at 20 ms each: a stream that lasts 4 s, far past the grace. */
const TOKEN_DELAY_MS = 20;
const STREAM_TOKENS = 200;
/** A sample that has not exited by then (a handle left open) is killed and counted as a failure. */
const SAMPLE_TIMEOUT_MS = 60_000;

type Figures = Record<string, number>;
interface Job {
  name: string;
  run(): Promise<Figures>;
}
interface Collected {
  figures: Record<string, number[]>;
  failures: number;
  firstError?: string;
}

/** The parley figures, one scenario each: [figure key, id, title, goal and its label]. */
const PARLEY_FIGURES: [string, string, string, [number, string]?][] = [
  ['importMs', 'lifecycle-import', 'start-up: import parley'],
  ['createMs', 'lifecycle-create', 'start-up: createRuntime() resolved'],
  ['firstReplyMs', 'lifecycle-first-reply', 'start-up: first reply', [FIRST_REPLY_BAR_MS, 'first reply']],
  ['secondReplyMs', 'lifecycle-second-reply', 'second chat reply'],
  ['shutdownIdleMs', 'lifecycle-shutdown-idle', 'shutdown() idle, after two chats', [IDLE_SHUTDOWN_BAR_MS, 'idle shutdown']],
  ['shutdownInFlightMs', 'lifecycle-shutdown-in-flight', `shutdown({ graceMs: ${GRACE_MS} }), in flight`, [IN_FLIGHT_BAR_MS, 'in-flight shutdown']],
  ['exitMs', 'lifecycle-exit', 'process exit after shutdown'],
];

/** [job, figure key, row name] of the references, all in one scenario. */
const REFERENCE_FIGURES: [string, string, string][] = [
  ['worker thread', 'nodeStartMs', 'node start'],
  ['worker thread', 'workerStartMs', 'worker thread start'],
  ['worker thread', 'workerExitMs', 'worker thread exit'],
  ['undici', 'undiciImportMs', "import('undici')"],
  ['parley ask', 'wallMs', 'parley ask (CLI)'],
  ['parley ask baseline', 'wallMs', 'parley ask (CLI) baseline'],
];
const REFERENCE_NOTES = [
  'node start: process start to the first line of a script (performance.now() there)',
  "worker thread: new Worker(eval'd script) until its first message; exit: terminate() until it resolves",
  'parley ask: the CLI process from spawn to exit, one reply from the model server, no config file',
];

interface ProcessRun {
  stdout: string;
  stderr: string;
  code: number | null;
  wallMs: number;
  exitEpochMs: number;
}

/** Runs node with `args` to its exit; `wallMs` from spawn to exit. */
function runNode(args: string[], env: NodeJS.ProcessEnv): Promise<ProcessRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let exit: { code: number | null; at: number; epoch: number } | undefined;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not exit within ${SAMPLE_TIMEOUT_MS} ms: ${stderr.slice(0, 300)}`));
    }, SAMPLE_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // The exit is timed when it happens; the output is complete only at 'close'.
    child.once('exit', (code) => (exit = { code, at: performance.now(), epoch: performance.timeOrigin + performance.now() }));
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', () => {
      clearTimeout(timer);
      if (exit) resolve({ stdout, stderr, code: exit.code, wallMs: exit.at - started, exitEpochMs: exit.epoch });
    });
  });
}

/** A child's environment: NODE_OPTIONS (tsx's, if any) stripped, so each child starts as plain node. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

/** An entry under src/ (--from-source) needs tsx in the child too. */
const loaderArgs = (entry: string) => (entry.endsWith('.ts') ? ['--import', 'tsx'] : []);

function sampleJob(name: string, spec: Record<string, unknown>, entry?: string): Job {
  return {
    name,
    async run() {
      const run = await runNode([...loaderArgs(entry ?? ''), SAMPLE, JSON.stringify(spec)], childEnv());
      const line = run.stdout.trim().split('\n').pop() ?? '';
      let out: { error?: string; code?: string; endEpochMs?: number };
      try {
        out = JSON.parse(line);
      } catch {
        throw new Error(`exit ${run.code}, no result: ${(run.stderr || run.stdout).slice(0, 300)}`);
      }
      if (out.error !== undefined) throw new Error(`${out.code ?? 'error'}: ${out.error}`);
      const { endEpochMs, ...figures } = out as Figures;
      return { ...figures, exitMs: run.exitEpochMs - endEpochMs!, processWallMs: run.wallMs };
    },
  };
}

/** `parley ask` of a checkout's dist (or src), against the model server, with no config file or provider variables. */
function cliJob(name: string, entry: string, url: string, home: string): Job {
  const main = join(dirname(entry), 'cli', entry.endsWith('.ts') ? 'main.ts' : 'main.js');
  const args = [...loaderArgs(entry), main, 'ask', '--base-url', `${url}/v1`, '--kind', 'openai', '--model', MODEL, 'hello, how are you today?'];
  return {
    name,
    async run() {
      const run = await runNode(args, { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: home });
      if (run.code !== 0 || !run.stdout.trim()) throw new Error(`parley ask exited ${run.code}: ${run.stderr.slice(0, 300)}`);
      return { wallMs: run.wallMs };
    },
  };
}

function row(name: string, values: number[], metrics?: Figures): ContenderResult {
  const rounded = values.map((v) => Math.round(v * 10) / 10);
  return { name, unit: 'ms', rounds: rounded, median: median(rounded), latencyMs: spread(rounded), ...(metrics ? { metrics } : {}) };
}

function scenario(id: string, title: string, contenders: ContenderResult[], bars: BarResult[], notes: string[], durationMs: number): ScenarioResult {
  return { id, title, unit: 'ms', higherIsBetter: false, contenders, bars, skipped: [], notes, durationMs };
}

export async function lifecycle(env: BenchEnv, plan: Plan): Promise<ScenarioResult[]> {
  const started = performance.now();
  const slow = await startServerProcess(['--token-delay-ms', String(TOKEN_DELAY_MS)]);
  const home = mkdtempSync(join(tmpdir(), 'parley-bench-home-'));
  const spec = { kind: 'parley', url: env.url, slowUrl: slow.url, graceMs: GRACE_MS, chat: toParleyRequest(SHORT_CHAT), stream: toParleyRequest(longReply(STREAM_TOKENS)) };
  const checkouts: [string, string][] = [['', parleyEntry()]];
  const base = baselineEntry();
  if (base) checkouts.push([' baseline', base]);
  const parleyJobs = checkouts.flatMap(([suffix, entry]) => [1, 2].map((workers) => sampleJob(`parley w${workers}${suffix}`, { ...spec, entry, workers }, entry)));
  const jobs: Job[] = [
    ...parleyJobs,
    sampleJob('worker thread', { kind: 'worker' }),
    sampleJob('undici', { kind: 'undici' }),
    ...checkouts.map(([suffix, entry]) => cliJob(`parley ask${suffix}`, entry, env.url, home)),
  ];
  const collected = new Map<string, Collected>(jobs.map((j) => [j.name, { figures: {}, failures: 0 }]));
  const progress = new Progress('lifecycle', plan.lifecycleSamples * jobs.length);
  try {
    for (let r = 0; r < plan.lifecycleSamples; r++) {
      for (const job of r % 2 === 0 ? jobs : [...jobs].reverse()) {
        progress.tick(`sample ${r + 1}/${plan.lifecycleSamples} ${job.name}`);
        const entry = collected.get(job.name)!;
        try {
          for (const [key, value] of Object.entries(await job.run())) (entry.figures[key] ??= []).push(value);
        } catch (err) {
          entry.failures++;
          entry.firstError ??= (err as Error).message;
        }
      }
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
    await slow.stop();
  }
  progress.finish(`${((performance.now() - started) / 1000).toFixed(1)}s`);
  const durationMs = Math.round(performance.now() - started);

  const failureNotes = [...collected].filter(([, c]) => c.failures > 0).map(([name, c]) => `${name}: ${c.failures} failed sample(s), first: ${c.firstError}`);
  const results = PARLEY_FIGURES.map(([key, id, title, goal]) => {
    const contenders = parleyJobs.map((j) => {
      const c = collected.get(j.name)!;
      const side = key === 'shutdownInFlightMs' ? ['inFlightAborted', 'inFlightForced', 'streamEndedShutdown'] : key === 'shutdownIdleMs' ? ['shutdownIdleForced'] : [];
      const metrics = Object.fromEntries(side.map((k) => [k, (c.figures[k] ?? []).reduce((a, b) => a + b, 0)]));
      return row(j.name, c.figures[key] ?? [], side.length ? { ...metrics, failures: c.failures } : undefined);
    });
    // The goals are this checkout's; a baseline's figures are there to compare with.
    const bars = goal ? contenders.filter((c) => !c.name.endsWith('baseline')).map((c) => bar(c.name, goal[1], c.median, '<=', goal[0], 'ms')) : [];
    const notes: string[] = [];
    if (key === 'shutdownInFlightMs') {
      for (const c of contenders) {
        const m = c.metrics!;
        if (m.streamEndedShutdown !== c.rounds.length || m.inFlightForced) notes.push(`${c.name}: ${m.streamEndedShutdown}/${c.rounds.length} streams ended with SHUTDOWN, ${m.inFlightForced} forced`);
      }
      notes.push(`goal: graceMs ${GRACE_MS} + ${IN_FLIGHT_BAR_MS - GRACE_MS} ms; a ${STREAM_TOKENS}-token stream at ${TOKEN_DELAY_MS} ms per token, shutdown after its first token`);
    }
    if (key === 'importMs') {
      notes.push(`${plan.lifecycleSamples} fresh node processes per contender, median [min..max]; w1: actor mode, w2: pool mode`, 'import: the host module (dist/src/index.js); first reply: from the createRuntime call', ...failureNotes);
      if (parleyEntry().endsWith('.ts')) notes.push('--from-source: the children run src/ under tsx, whose transform these figures include');
    }
    if (key === 'exitMs') notes.push('from the last line the sample printed (after its second shutdown) to the process exit, seen by the bench');
    return scenario(id, title, contenders, bars, notes, durationMs);
  });
  const references = REFERENCE_FIGURES.filter(([name]) => collected.has(name)).map(([name, key, label]) => row(label, collected.get(name)!.figures[key] ?? []));
  results.push(scenario('lifecycle-references', 'start-up references (fresh processes)', references, [], REFERENCE_NOTES, durationMs));
  return results;
}
