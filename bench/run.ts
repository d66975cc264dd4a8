/**
 * npm run bench [-- --quick] [--only chat-c1,stream-c16,...] [--rounds N] [--from-source] [--save] [--out DIR] [--baseline CHECKOUT]
 *
 * Builds dist (parley as users install it), starts the model server in a child process, runs the scenarios, prints the
 * table and writes latest.txt (the table), latest.json and latest.svg to bench/results/local/, which git ignores, so
 * a run leaves the working tree clean. --save writes them to bench/results/ instead, the committed record of a run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { machineInfo } from './machine.ts';
import { loadBaseline, loadParley } from './parley-module.ts';
import { FULL, QUICK, type Plan } from './plan.ts';
import { renderSvg } from './report-svg.ts';
import { renderTable } from './report-table.ts';
import { chatLatency } from './scenarios/chat-latency.ts';
import { chatThroughput, ollamaThroughput } from './scenarios/chat-throughput.ts';
import type { BenchEnv } from './scenarios/compare.ts';
import { continuity } from './scenarios/continuity.ts';
import { lifecycle } from './scenarios/lifecycle.ts';
import { realisticHost } from './scenarios/realistic-host.ts';
import type { ScenarioResult } from './scenarios/result.ts';
import { soak } from './scenarios/soak.ts';
import { streamThroughput, streamThroughput64 } from './scenarios/stream-throughput.ts';
import { startServerProcess } from './server-process.ts';

/** `fullRunOnly`: left out of --quick (unless named in --only): reported for information, no goal set. */
type Scenario = { id: string; fullRunOnly?: boolean; run(env: BenchEnv, plan: Plan): Promise<ScenarioResult | ScenarioResult[]> };

const SCENARIOS: Scenario[] = [
  { id: 'chat-c1', run: chatLatency },
  { id: 'chat-c64', run: chatThroughput },
  { id: 'stream-c16', run: streamThroughput },
  { id: 'stream-c64', fullRunOnly: true, run: streamThroughput64 },
  { id: 'ollama-c64', run: ollamaThroughput },
  { id: 'soak', run: soak },
  { id: 'continuity', run: continuity },
  { id: 'realistic-host', run: realisticHost },
  { id: 'lifecycle', run: lifecycle },
];

const USAGE = `usage: npm run bench -- [--quick] [--only ${SCENARIOS.map((s) => s.id).join(',')}] [--rounds N] [--save | --out DIR] [--from-source] [--baseline CHECKOUT] [--host-nice 5,10]`;

interface Args {
  quick: boolean;
  only: string[] | undefined;
  rounds: number | undefined;
  out: string;
  fromSource: boolean;
  baseline: string | undefined;
  hostNice: number[] | undefined;
}

const RESULTS = fileURLToPath(new URL('results', import.meta.url));

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: undefined, rounds: undefined, out: `${RESULTS}/local`, fromSource: false, baseline: undefined, hostNice: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? '';
    if (flag === '--quick') args.quick = true;
    else if (flag === '--only') args.only = value().split(',').filter(Boolean);
    else if (flag === '--rounds') args.rounds = Number(value());
    else if (flag === '--out') args.out = value();
    else if (flag === '--save') args.out = RESULTS;
    else if (flag === '--baseline') args.baseline = value();
    else if (flag === '--host-nice') args.hostNice = value().split(',').filter(Boolean).map(Number);
    else if (flag === '--from-source') args.fromSource = true;
    else if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new TypeError(`unknown option ${JSON.stringify(argv[i])}\n${USAGE}`);
  }
  for (const id of args.only ?? []) if (!SCENARIOS.some((s) => s.id === id)) throw new TypeError(`--only: unknown scenario ${JSON.stringify(id)}\n${USAGE}`);
  if (args.hostNice?.some((n) => !(Number.isInteger(n) && n >= 0 && n <= 19))) throw new TypeError('--host-nice takes workerNice values 0-19, comma-separated');
  if (args.rounds !== undefined && !(Number.isInteger(args.rounds) && args.rounds >= 2)) throw new TypeError('--rounds must be an integer >= 2');
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const plan: Plan = { ...(args.quick ? QUICK : FULL), ...(args.rounds ? { rounds: args.rounds, hostRounds: args.rounds } : {}), ...(args.hostNice ? { hostNice: args.hostNice } : {}) };
  const started = performance.now();
  const machine = machineInfo();
  const parleyFrom = await loadParley(args.fromSource);
  if (args.baseline) process.stderr.write(`parley w1 baseline from ${await loadBaseline(args.baseline)}\n`);
  const server = await startServerProcess();
  process.stderr.write(`model server pid ${server.pid} at ${server.url}; parley from ${parleyFrom}; ${args.quick ? 'quick' : 'full'} run, ${plan.rounds} rounds\n`);
  const env: BenchEnv = { url: server.url, port: server.port, quick: args.quick };
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of SCENARIOS) {
      if (args.only ? !args.only.includes(scenario.id) : args.quick && scenario.fullRunOnly) continue;
      const out = await scenario.run(env, plan);
      results.push(...(Array.isArray(out) ? out : [out]));
    }
  } finally {
    await server.stop();
  }
  const wallMs = Math.round(performance.now() - started);
  const report = { date: new Date().toISOString(), mode: args.quick ? 'quick' : 'full', wallMs, plan, machine, parley: parleyFrom, scenarios: results };
  const bars = results.flatMap((r) => r.bars).filter((b) => b.pass !== undefined);
  const text =
    `${renderTable(results)}\n\n${bars.filter((b) => b.pass).length}/${bars.length} bars passed; wall time ${(wallMs / 1000).toFixed(1)} s; ` +
    `${machine.cpus} cpus, load ${machine.loadAverage.join(' ')} at the start, ${loadavg().map((n) => n.toFixed(2)).join(' ')} at the end, node ${machine.node}, parley from ${parleyFrom}\n`;
  mkdirSync(args.out, { recursive: true });
  writeFileSync(`${args.out}/latest.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${args.out}/latest.svg`, renderSvg(report));
  writeFileSync(`${args.out}/latest.txt`, text);
  console.log(`${text}wrote ${args.out}/latest.txt, latest.json and latest.svg`);
}

main().catch((err: unknown) => {
  console.error(err instanceof TypeError ? err.message : err);
  process.exitCode = 1;
});
