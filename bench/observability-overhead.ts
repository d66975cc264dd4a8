/**
 * npx tsx bench/observability-overhead.ts [--seconds N] [--rounds N]
 *
 * What observing calls costs the host thread: CPU µs per chat (c=64,
 * 64-token replies, src/ as it is) on one runtime, in turns: no call-event
 * listener, then call-start + call-end listeners. Rounds alternate the two
 * so that the machine's noise falls on both alike; the median of each is
 * reported. Linux only (host thread CPU from /proc/<pid>/task/<pid>/schedstat).
 */
import { readFileSync } from 'node:fs';
import { createRuntime, type CallEndEvent, type Runtime } from '../src/index.ts';
import { parleyOptions, toParleyRequest } from './contenders/parley.ts';
import { closedLoop } from './scenarios/load.ts';
import { startServerProcess } from './server-process.ts';
import { CHAT_64 } from './workload.ts';

function hostCpuNs(): number {
  return Number(readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
}

async function round(rt: Runtime, seconds: number): Promise<{ usPerCall: number; callsPerSec: number }> {
  const op = async () => (await rt.chat(toParleyRequest(CHAT_64))).content.length;
  const before = hostCpuNs();
  const result = await closedLoop(op, { concurrency: 64, durationMs: seconds * 1000 });
  const cpu = hostCpuNs() - before;
  if (result.failures) throw new Error(`${result.failures} failures: ${result.firstError}`);
  return { usPerCall: cpu / result.ops / 1000, callsPerSec: (result.ops / result.elapsedMs) * 1000 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
  const seconds = arg('--seconds', 3);
  const rounds = arg('--rounds', 5);
  const server = await startServerProcess();
  const rt = await createRuntime(parleyOptions(server.url, 'openai'));
  const off: number[] = [];
  const on: number[] = [];
  let ended = 0;
  const listener = (_e: CallEndEvent) => {
    ended++;
  };
  const noop = () => undefined;
  try {
    await closedLoop(async () => (await rt.chat(toParleyRequest(CHAT_64))).content.length, { concurrency: 64, maxOps: 5_000 });
    for (let i = 0; i < rounds; i++) {
      off.push((await round(rt, seconds)).usPerCall);
      rt.on('call-start', noop);
      rt.on('call-end', listener);
      on.push((await round(rt, seconds)).usPerCall);
      rt.off('call-start', noop);
      rt.off('call-end', listener);
    }
  } finally {
    await rt.shutdown();
    await server.stop();
  }
  const fmt = (xs: number[]) => `${median(xs).toFixed(2)} µs (rounds: ${xs.map((x) => x.toFixed(2)).join(', ')})`;
  console.log(`chat c=64, 64-token replies: host thread CPU per call, median of ${rounds} rounds of ${seconds} s`);
  console.log(`  no listener:               ${fmt(off)}`);
  console.log(`  call-start + call-end:     ${fmt(on)}`);
  console.log(`  (${ended} call-end events seen)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
