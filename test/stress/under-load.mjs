/**
 * npm run test:stress: `npm test` three times in a row while one busy-loop
 * process per core keeps the CPU saturated, the conditions under which timing
 * assumptions in tests show up as flakes. Exits 0 only if every run passed.
 * The hogs are killed on every path: normal end, failure, Ctrl-C, SIGTERM.
 *
 * Usage: node test/stress/under-load.mjs [runs=3] [hogs=os.availableParallelism()]
 */
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';

const runs = Number(process.argv[2] ?? 3);
const hogCount = Number(process.argv[3] ?? availableParallelism());
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** Spins forever, checking now and then that its parent is alive: a parent killed with SIGKILL leaves no hog behind. */
const HOG = `const parent = process.ppid;
for (;;) {
  for (let i = 0; i < 5e7; i++);
  try { process.kill(parent, 0); } catch { process.exit(0); }
}`;
const hogs = Array.from({ length: hogCount }, () => spawn(process.execPath, ['-e', HOG], { stdio: 'ignore' }));
let current;

function stopAll() {
  for (const hog of hogs) if (hog.exitCode === null && hog.signalCode === null) hog.kill('SIGKILL');
  // npm does not pass a signal on to the test runner: end the run's whole process group.
  if (current && current.exitCode === null && current.signalCode === null) {
    try {
      process.kill(-current.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}
process.once('exit', stopAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    stopAll();
    process.exit(130);
  });
}

function npmTest() {
  return new Promise((resolve) => {
    // Its own process group, so that stopAll() can end the runner and its test processes with it.
    // On Windows Node starts npm.cmd only through a shell (CVE-2024-27980).
    current = spawn(npm, ['test'], { stdio: 'inherit', detached: true, shell: process.platform === 'win32' });
    current.once('error', () => resolve(1));
    current.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const results = [];
try {
  for (let run = 1; run <= runs; run++) {
    const started = performance.now();
    console.log(`\n=== test:stress run ${run}/${runs} with ${hogCount} CPU hogs (load ${loadavg().map((l) => l.toFixed(2)).join(' ')}) ===`);
    const code = await npmTest();
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    results.push({ run, code, seconds });
    console.log(`=== run ${run}: ${code === 0 ? 'passed' : `FAILED (exit ${code})`} in ${seconds} s ===`);
  }
} finally {
  stopAll();
}

const failed = results.filter((r) => r.code !== 0);
console.log(`\ntest:stress: ${results.length - failed.length}/${results.length} runs passed (${results.map((r) => `${r.seconds} s`).join(', ')})`);
process.exitCode = failed.length === 0 ? 0 : 1;
