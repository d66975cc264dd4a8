// The test files of one npm test, run in the order given.
//
// `node --test a b c` sorts its files by name whatever order they are given
// in (Node 20's createTestFileList), so the longest-first order of
// test-durations.mjs never reached it: long suites whose names sort late
// (secrets-redaction, supervision-restart) started last and ran alone while
// the other cores idled. node:test's run() takes `files` as they are.
//
//   node [flags] test-queue.mjs <concurrency> <reporter> <file>...
//
// Each file runs in a process of its own with this process's flags (run()
// passes process.execArgv on, as node --test does). The report goes to
// stdout in the named built-in reporter's format, and the durations reporter
// records each file's time. Exit code 1 when any test failed.
import { run } from 'node:test';
import * as reporters from 'node:test/reporters';
import durations from './test-durations.mjs';

const [concurrency, reporter, ...files] = process.argv.slice(2);

const stream = run({
  files,
  concurrency: Number(concurrency),
  // A guard against a hang. Node 20 starts each file's clock when run()
  // queues it, at the start, so this bounds the whole queue: npm test takes
  // about 3 minutes here, and under 5 beside the stress run's CPU hogs.
  timeout: 30 * 60_000,
});
stream.on('test:fail', () => {
  process.exitCode = 1;
});
stream.compose(reporters[reporter]).pipe(process.stdout);
stream.compose(durations).resume();
