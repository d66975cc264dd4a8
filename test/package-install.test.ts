/**
 * The package as users install it: build, pack, install the tarball into a
 * fresh project, and run it there with plain node (no tsx): the library, the
 * testing entry, the compiled worker, the types and the `parley` bin.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TIMEOUT_MS = 180_000;

let dir: string;
let app: string;

const HOST_SCRIPT = `
import { createRuntime, ParleyError } from 'parley';
import { startModelServer } from 'parley/testing';

const server = await startModelServer();
const runtime = await createRuntime({ providers: { local: { kind: 'ollama', baseUrl: server.url } } });
try {
  const reply = await runtime.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'hello from an installed package' }] });
  let streamed = '';
  for await (const event of runtime.stream({ model: 'parley-small', messages: [{ role: 'user', content: 'stream please' }] })) {
    if (event.type === 'text') streamed += event.text;
  }
  const conversation = await runtime.conversation({ model: 'parley-echo' });
  await conversation.send('first');
  const second = await conversation.send('second');
  try {
    await runtime.chat({ provider: 'nope', model: 'x', messages: [{ role: 'user', content: 'x' }] });
  } catch (err) {
    console.log('error-class', err instanceof ParleyError, err.code);
  }
  console.log('chat:', reply.content);
  console.log('stream:', streamed);
  console.log('conversation:', second.content);
  // Pool mode resolves its piscina task entry from dist too.
  const pool = await createRuntime({ providers: { local: { kind: 'ollama', baseUrl: server.url } }, workers: 2 });
  try {
    const pooled = await Promise.all([1, 2, 3, 4].map((i) => pool.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'pool ' + i }] })));
    let poolStreamed = '';
    for await (const event of pool.stream({ model: 'parley-echo', messages: [{ role: 'user', content: 'pool stream' }] })) {
      if (event.type === 'text') poolStreamed += event.text;
    }
    console.log('pool:', pooled.length, poolStreamed.includes('pool stream'));
  } finally {
    const poolReport = await pool.shutdown();
    console.log('pool shutdown forced:', poolReport.forced);
  }
} finally {
  const report = await runtime.shutdown();
  await server.close();
  console.log('shutdown forced:', report.forced);
}
`;

const CONSUMER_TS = `
import { createRuntime, ParleyError, type ChatResult, type RuntimeOptions } from 'parley';
import { startModelServer, type ModelServer } from 'parley/testing';
const server: ModelServer = await startModelServer();
const options: RuntimeOptions = { providers: { local: { kind: 'ollama', baseUrl: server.url } } };
const runtime = await createRuntime(options);
const result: ChatResult = await runtime.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'hi' }] });
const code: string | undefined = result.content ? undefined : new ParleyError('HTTP', 'x').code;
console.log(code);
await runtime.shutdown();
await server.close();
`;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-install-'));
  app = join(dir, 'app');
  await mkdir(app);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the built tarball installs into a fresh project and runs with plain node', { timeout: TIMEOUT_MS }, async () => {
  await run(npm, ['run', 'build'], { cwd: repo });
  const { stdout: packed } = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: repo });
  const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes('dist/src/index.js'), 'the tarball holds the library');
  assert.ok(files.includes('dist/src/index.d.ts'), 'the tarball holds declarations');
  assert.ok(files.includes('dist/workers/provider-actor.js'), 'the tarball holds the compiled worker');
  assert.ok(files.includes('dist/workers/provider-task.js'), 'the tarball holds the compiled pool task');
  assert.ok(files.includes('dist/src/cli/main.js'), 'the tarball holds the CLI');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/')), 'no sources or tests are shipped');

  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'parley-install-check', private: true, type: 'module' }));
  await run(npm, ['install', join(dir, info.filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app });

  await writeFile(join(app, 'host.mjs'), HOST_SCRIPT);
  const { stdout } = await run(process.execPath, ['host.mjs'], { cwd: app, timeout: 60_000 });
  assert.match(stdout, /^chat: .*"hello from an installed package".*answered by parley-echo/m);
  assert.match(stdout, /^stream: .*"stream please".*answered by parley-small/m);
  assert.match(stdout, /^conversation: .*turn 2, answered by parley-echo/m);
  assert.match(stdout, /^error-class true INVALID_REQUEST$/m);
  assert.match(stdout, /^shutdown forced: false$/m);
  assert.match(stdout, /^pool: 4 true$/m);
  assert.match(stdout, /^pool shutdown forced: false$/m);
});

test('the installed types check in a strict TypeScript project', { timeout: TIMEOUT_MS }, async () => {
  await writeFile(join(app, 'consumer.ts'), CONSUMER_TS);
  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'nodenext',
        target: 'es2022',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(repo, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    }),
  );
  await run(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: app });
});

test('the installed `parley` bin answers with plain node and the embedded server', { timeout: TIMEOUT_MS }, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, NO_COLOR: '1' };
  for (const key of ['OLLAMA_HOST', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENROUTER_API_KEY', 'ANTHROPIC_API_KEY', 'PARLEY_CONFIG', 'XDG_CONFIG_HOME']) {
    delete env[key];
  }
  const { stdout } = await run(join(app, 'node_modules', '.bin', 'parley'), ['ask', 'installed bin'], { cwd: app, env, timeout: 60_000 });
  assert.match(stdout, /"installed bin".*answered by parley-echo/);
});
