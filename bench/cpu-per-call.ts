/**
 * npx tsx bench/cpu-per-call.ts [--stream] [--seconds N] [--from-source]
 *
 * Where the CPU of one call goes, by thread: the host thread, the provider
 * worker, the process's other threads (V8's GC helpers, libuv) and the model
 * server process; and how long the host and the worker waited for a CPU
 * while runnable. Chat at concurrency 64 (or 256-token streams at 16), the
 * in-process undici floor beside parley w1. Linux only: it reads
 * /proc/<pid>/task/<tid>/schedstat (ns on the CPU, ns waiting on a run
 * queue) before and after a timed closed loop.
 *
 * This is the instrument behind the profiling notes in bench/README.md: on a
 * 2-core machine the floor is bound by the model server, and what parley
 * can win is its own CPU per call.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parleyClient, parleyOptions } from './contenders/parley.ts';
import type { Client } from './contenders/contender.ts';
import { undiciRaw } from './contenders/undici-raw.ts';
import { loadParley, parley } from './parley-module.ts';
import { closedLoop } from './scenarios/load.ts';
import { startServerProcess } from './server-process.ts';
import { CHAT_64, STREAM_LONG } from './workload.ts';

interface Sched {
  runNs: number;
  waitNs: number;
}

function schedOf(pid: number): Map<number, Sched> {
  const out = new Map<number, Sched>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      out.set(Number(tid), { runNs: run!, waitNs: wait! });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

function delta(before: Map<number, Sched>, after: Map<number, Sched>): Map<number, Sched> {
  const out = new Map<number, Sched>();
  for (const [tid, b] of after) {
    const a = before.get(tid) ?? { runNs: 0, waitNs: 0 };
    out.set(tid, { runNs: b.runNs - a.runNs, waitNs: b.waitNs - a.waitNs });
  }
  return out;
}

interface Row {
  name: string;
  callsPerSec: number;
  host: Sched;
  worker: Sched | undefined;
  helpersNs: number;
  serverNs: number;
}

async function measure(name: string, client: Client, serverPid: number, stream: boolean, seconds: number, hasWorker: boolean): Promise<Row> {
  const concurrency = stream ? 16 : 64;
  const op = stream ? () => client.stream(STREAM_LONG, () => undefined) : async () => (await client.chat(CHAT_64)).length;
  await closedLoop(op, { concurrency, maxOps: stream ? 500 : 3_000 });
  const before = schedOf(process.pid);
  const serverBefore = schedOf(serverPid);
  const round = await closedLoop(op, { concurrency, durationMs: seconds * 1000 });
  const threads = delta(before, schedOf(process.pid));
  const server = delta(serverBefore, schedOf(serverPid));
  if (round.failures) throw new Error(`${name}: ${round.failures} failures: ${round.firstError}`);
  const host = threads.get(process.pid)!;
  threads.delete(process.pid);
  // The provider worker is the busiest thread besides the host.
  let worker: [number, Sched] | undefined;
  if (hasWorker) for (const entry of threads) if (!worker || entry[1].runNs > worker[1].runNs) worker = entry;
  if (worker) threads.delete(worker[0]);
  let helpersNs = 0;
  for (const t of threads.values()) helpersNs += t.runNs;
  let serverNs = 0;
  for (const t of server.values()) serverNs += t.runNs;
  const per = (ns: number) => ns / round.ops;
  return {
    name,
    callsPerSec: (round.ops / round.elapsedMs) * 1000,
    host: { runNs: per(host.runNs), waitNs: per(host.waitNs) },
    worker: worker && { runNs: per(worker[1].runNs), waitNs: per(worker[1].waitNs) },
    helpersNs: per(helpersNs),
    serverNs: per(serverNs),
  };
}

function table(rows: Row[], stream: boolean): string {
  const us = (ns: number | undefined) => (ns === undefined ? '-' : (ns / 1000).toFixed(1));
  const head = ['', stream ? 'streams/s' : 'calls/s', 'host', 'worker', 'helpers', 'server', 'total', 'host wait', 'worker wait'];
  const lines = rows.map((r) => [
    r.name,
    Math.round(r.callsPerSec).toLocaleString('en-US'),
    us(r.host.runNs),
    us(r.worker?.runNs),
    us(r.helpersNs),
    us(r.serverNs),
    us(r.host.runNs + (r.worker?.runNs ?? 0) + r.helpersNs + r.serverNs),
    us(r.host.waitNs),
    us(r.worker?.waitNs),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `${stream ? 'stream c=16, 256 tokens' : 'chat c=64, 64-token replies'}: CPU µs per ${stream ? 'stream' : 'call'} by thread, and µs spent runnable but waiting for a CPU`,
    fmt(head),
    ...lines.map(fmt),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const stream = argv.includes('--stream');
  const secondsAt = argv.indexOf('--seconds');
  const seconds = secondsAt >= 0 ? Number(argv[secondsAt + 1]) : 4;
  const from = await loadParley(argv.includes('--from-source'));
  const server = await startServerProcess();
  const rows: Row[] = [];
  try {
    const floor = await undiciRaw('openai', 'undici (floor)').open(server.url);
    rows.push(await measure('undici (floor)', floor, server.pid, stream, seconds, false));
    await floor.close();
    const client = parleyClient(await parley().createRuntime(parleyOptions(server.url, 'openai')));
    rows.push(await measure(`parley w1 (${from})`, client, server.pid, stream, seconds, true));
    await client.close();
  } finally {
    await server.stop();
  }
  console.log(table(rows, stream));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
