/**
 * The package as users install it: build, pack, install the tarball into a
 * fresh project, and run it there with plain node (no tsx, no esbuild): the
 * library from import and from require(), the testing entry, the compiled
 * worker in both modes, the types for ESM and CommonJS consumers (module
 * nodenext, node16, commonjs), a host bundled by esbuild with `parley/worker`
 * as its own entry, and the `parley` bin.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { REPO } from './helpers/checkout.ts';

const run = promisify(execFile);
const repo = REPO;
const windows = process.platform === 'win32';
const npm = windows ? 'npm.cmd' : 'npm';
/** npm, also on Windows, where Node refuses to start a .cmd file without a shell (CVE-2024-27980); paths are quoted for it. */
function runNpm(args: string[], cwd: string): Promise<{ stdout: string; stderr: string }> {
  return run(npm, windows ? args.map((a) => JSON.stringify(a)) : args, { cwd, shell: windows });
}
const TIMEOUT_MS = 180_000;
const fixtures = join(repo, 'test', 'fixtures', 'package');

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

/** The same consumer for a CommonJS file: no top-level await, `import` compiles to require(). */
const CONSUMER_CJS = `
import { createRuntime, ParleyError, type ChatResult, type RuntimeOptions } from 'parley';
import { startModelServer, type ModelServer } from 'parley/testing';
async function main(): Promise<void> {
  const server: ModelServer = await startModelServer();
  const options: RuntimeOptions = { providers: { local: { kind: 'ollama', baseUrl: server.url } } };
  const runtime = await createRuntime(options);
  const result: ChatResult = await runtime.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'hi' }] });
  console.log(result.content, new ParleyError('HTTP', 'x').code);
  await runtime.shutdown();
  await server.close();
}
void main();
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
  // npm test built dist/ just before the suites (PARLEY_TEST_BUILT): building it again here would race the CLI suites that run from it.
  if (process.env.PARLEY_TEST_BUILT !== '1') await runNpm(['run', 'build'], repo);
  const { stdout: packed } = await runNpm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repo);
  const [info] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path);
  assert.ok(files.includes('dist/src/index.js'), 'the tarball holds the library');
  assert.ok(files.includes('dist/src/index.d.ts'), 'the tarball holds declarations');
  assert.ok(files.includes('dist/workers/provider-worker.cjs'), 'the tarball holds the compiled worker entry');
  assert.ok(files.includes('dist/types-cjs/package.json'), 'the tarball holds the CommonJS declarations');
  assert.ok(files.includes('dist/types-cjs/src/index.d.ts'), 'the tarball holds the CommonJS declarations');
  assert.ok(files.includes('dist/src/cli/main.js'), 'the tarball holds the CLI');
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('src/')), 'no sources or tests are shipped');

  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'parley-install-check', private: true, type: 'module' }));
  await runNpm(['install', join(dir, info.filename), '--prefer-offline', '--no-audit', '--no-fund'], app);
  const installed = JSON.parse(await readFile(join(app, 'node_modules', 'parley', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  // The runtime's three, and structured output's JSON Schema validator and partial-JSON parser.
  assert.deepEqual(Object.keys(installed.dependencies).sort(), ['ajv', 'comlink', 'partial-json', 'piscina', 'undici'], 'the runtime dependencies only');
  for (const tool of ['tsx', 'esbuild']) assert.ok(!existsSync(join(app, 'node_modules', tool)), `${tool} is not installed with parley`);

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

test('require(\'parley\') works in a CommonJS host, in both modes', { timeout: TIMEOUT_MS }, async () => {
  await copyFile(join(fixtures, 'host.cjs'), join(app, 'host.cjs'));
  const { stdout, stderr } = await run(process.execPath, ['host.cjs'], { cwd: app, timeout: 60_000 });
  for (const workers of [1, 2]) {
    assert.match(stdout, new RegExp(`^chat ${workers}: .*"required ${workers}".*answered by parley-echo`, 'm'));
    assert.match(stdout, new RegExp(`^stream ${workers}: .*"required stream ${workers}"`, 'm'));
    assert.match(stdout, new RegExp(`^error-class ${workers} true INVALID_REQUEST$`, 'm'));
    assert.match(stdout, new RegExp(`^shutdown ${workers} forced: false$`, 'm'));
  }
  assert.doesNotMatch(stderr, /ExperimentalWarning|ERR_REQUIRE/, 'require(esm) loads without warnings');
});

test('the installed types check for ESM (nodenext) and CommonJS (node16, commonjs) consumers', { timeout: TIMEOUT_MS }, async () => {
  await writeFile(join(app, 'consumer.ts'), CONSUMER_TS);
  // A .cts file is CommonJS under node16 whatever the package type says.
  await writeFile(join(app, 'consumer-cjs.cts'), CONSUMER_CJS);
  await writeFile(join(app, 'consumer-node10.ts'), CONSUMER_CJS);
  // One process, one program per module setting: test/fixtures/package/check-types.cjs.
  const check = [join(fixtures, 'check-types.cjs'), join(repo, 'node_modules', 'typescript'), join(repo, 'node_modules', '@types')];
  const consumers = ['consumer.ts=nodenext', 'consumer-cjs.cts=node16:node16', 'consumer-node10.ts=commonjs:node10'];
  // It reports on stdout: make a failure say what it found.
  await run(process.execPath, [...check, ...consumers], { cwd: app }).catch((err: { stdout?: string }) => assert.fail(err.stdout || String(err)));
});

/** How each bundle format's host names the worker entry, and what the door says without it. */
const BUNDLES = [
  { format: 'esm', ext: '.mjs', noEntry: /^default entry: CONFIG options\.workerEntry: parley's worker entry is not at /m },
  { format: 'cjs', ext: '.cjs', noEntry: /^default entry: CONFIG options\.workerEntry is required where parley is bundled as CommonJS/m },
] as const;

for (const { format, ext, noEntry } of BUNDLES) {
  test(`a host bundled by esbuild as ${format}, with parley/worker as its own entry, chats in both modes`, { timeout: TIMEOUT_MS }, async () => {
    const out = join(dir, `bundled-${format}`);
    await copyFile(join(fixtures, `bundle-host${ext}`), join(app, `bundle-host${ext}`));
    await build({
      absWorkingDir: app,
      entryPoints: { host: `bundle-host${ext}`, 'parley-worker': 'parley/worker' },
      bundle: true,
      platform: 'node',
      format,
      target: 'node20',
      outdir: out,
      outExtension: { '.js': ext },
      // The recipe in README "Packaging": piscina starts its threads from its own file, and in an ES
      // module bundle the CommonJS dependencies (undici) need require().
      external: ['piscina'],
      ...(format === 'esm' && { banner: { js: "import { createRequire as bannerCreateRequire } from 'node:module'; const require = bannerCreateRequire(import.meta.url);" } }),
      logLevel: 'silent',
    });
    // The bundle runs beside piscina alone: parley, undici and comlink are inside it.
    await cp(join(app, 'node_modules', 'piscina'), join(out, 'node_modules', 'piscina'), { recursive: true });
    const { stdout } = await run(process.execPath, [`host${ext}`], { cwd: out, timeout: 60_000 });
    assert.match(stdout, noEntry, 'the door says the bundle needs workerEntry');
    for (const workers of [1, 2]) {
      assert.match(stdout, new RegExp(`^chat ${workers}: .*"bundled ${workers}".*answered by parley-echo`, 'm'));
      assert.match(stdout, new RegExp(`^stream ${workers}: .*"bundled stream ${workers}"`, 'm'));
      assert.match(stdout, new RegExp(`^shutdown ${workers} forced: false$`, 'm'));
    }
    assert.doesNotMatch(stdout, /listening/, 'the bundled testing entry does not start the serve command');
  });
}

test('the installed `parley` bin answers with plain node and the embedded server', { timeout: TIMEOUT_MS }, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, NO_COLOR: '1' };
  for (const key of ['OLLAMA_HOST', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENROUTER_API_KEY', 'ANTHROPIC_API_KEY', 'PARLEY_CONFIG', 'XDG_CONFIG_HOME']) {
    delete env[key];
  }
  // npm's .cmd shim on Windows, started through a shell, which needs the quotes.
  const bin = join(app, 'node_modules', '.bin', windows ? 'parley.cmd' : 'parley');
  const { stdout } = await run(bin, ['ask', windows ? '"installed bin"' : 'installed bin'], { cwd: app, env, timeout: 60_000, shell: windows });
  assert.match(stdout, /"installed bin".*answered by parley-echo/);
});
