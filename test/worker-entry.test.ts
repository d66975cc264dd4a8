/**
 * options.workerEntry, in the mode PARLEY_TEST_WORKERS picks: the one worker
 * entry serves both modes wherever it is named from (a path, a relative
 * path, a file: URL string, a URL), a bad name is CONFIG at the door naming
 * the field, and a path inside an Electron asar archive is taken from
 * `<archive>.asar.unpacked` when the file is there.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createRuntime, ParleyError, type RuntimeOptions } from '../src/index.ts';
import { defaultWorkerEntry } from './helpers/checkout.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { testWorkers } from './helpers/workers-mode.ts';

let server: ModelServer;
let dir: string;
/** A worker entry outside parley: it loads the real one, as a bundler's output would be loaded. */
let entry: string;

before(async () => {
  server = await startModelServer();
  dir = await mkdtemp(join(tmpdir(), 'parley-worker-entry-'));
  entry = join(dir, 'parley-worker.mjs');
  // `export default` carries piscina's task function; the import runs the actor or pool role.
  const forward = `export { default } from ${JSON.stringify(pathToFileURL(defaultWorkerEntry()).href)};\n`;
  await writeFile(entry, forward);
  // An Electron-style archive: the packed copy cannot run, the unpacked one can.
  await mkdir(join(dir, 'app.asar'));
  await mkdir(join(dir, 'app.asar.unpacked'));
  await writeFile(join(dir, 'app.asar', 'parley-worker.mjs'), "throw new Error('loaded from inside the archive');\n");
  await writeFile(join(dir, 'app.asar.unpacked', 'parley-worker.mjs'), forward);
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

function options(workerEntry: unknown): RuntimeOptions {
  return { providers: { local: { kind: 'ollama', baseUrl: server.url } }, workers: testWorkers, workerEntry: workerEntry as string };
}

/** A chat and a stream through a runtime started from `workerEntry`, then a shutdown that needs no force. */
async function chatsThrough(workerEntry: unknown, label: string): Promise<void> {
  const runtime = await createRuntime(options(workerEntry));
  try {
    const reply = await runtime.chat({ model: 'parley-echo', messages: [{ role: 'user', content: label }] });
    assert.match(reply.content, new RegExp(`"${label}"`));
    let text = '';
    for await (const event of runtime.stream({ model: 'parley-echo', messages: [{ role: 'user', content: `${label} streamed` }] })) {
      if (event.type === 'text') text += event.text;
    }
    assert.match(text, new RegExp(`"${label} streamed"`));
  } finally {
    const report = await runtime.shutdown();
    assert.equal(report.forced, false, `${label}: the workers exit by themselves`);
  }
}

test('a worker entry named by absolute path, relative path, file: URL string or URL serves the runtime', async () => {
  await chatsThrough(entry, 'absolute path');
  await chatsThrough(relative(process.cwd(), entry), 'relative path');
  await chatsThrough(pathToFileURL(entry).href, 'file URL string');
  await chatsThrough(pathToFileURL(entry), 'URL object');
});

test('a worker entry inside an asar archive is taken from <archive>.asar.unpacked', async () => {
  await chatsThrough(join(dir, 'app.asar', 'parley-worker.mjs'), 'from the unpacked archive');
});

test('a bad workerEntry is CONFIG at createRuntime, naming the field', async () => {
  const cases: [unknown, string][] = [
    ['', 'an empty string'],
    [42, 'number'],
    [join(dir, 'missing.mjs'), join(dir, 'missing.mjs')],
    [new URL('https://user:hunter2@example.com/worker.mjs'), 'file: URL'],
    ['file://remote-host/worker.mjs', 'file: URL'],
    [dir, `no file at ${dir}`],
  ];
  for (const [value, expected] of cases) {
    await assert.rejects(createRuntime(options(value)), (err: unknown) => {
      assert.ok(err instanceof ParleyError, String(err));
      assert.equal(err.code, 'CONFIG');
      assert.ok(err.message.includes('options.workerEntry'), err.message);
      assert.ok(err.message.includes(expected), `${err.message} says ${expected}`);
      assert.ok(!err.message.includes('hunter2'), 'no credentials of a URL in the message');
      return true;
    });
  }
});
