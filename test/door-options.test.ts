/**
 * The door of createRuntime, in both modes: unknown option keys (nested
 * ones and provider configs included) with the nearest known one; values
 * that become HTTP headers; baseUrl query strings, fragments and userinfo;
 * worker settings Node or V8 would refuse. Every refusal is CONFIG, before
 * a worker starts, and never prints the value it refuses.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type RuntimeOptions } from '../src/index.ts';
import { TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

const KEY = 'sk-door-0123456789abcdefghijklmnopqrstuv';
const URL_OK = 'http://127.0.0.1:9';

/** CONFIG from createRuntime, its message naming every one of `names` and holding none of `never`. */
async function configError(options: unknown, names: string[], never: string[] = [KEY]): Promise<string> {
  try {
    const rt = await createRuntime(options as RuntimeOptions);
    await rt.shutdown({ graceMs: 0 });
  } catch (err) {
    assert.ok(err instanceof ParleyError, `a ParleyError, got ${String(err)}`);
    assert.equal(err.code, 'CONFIG', err.message);
    for (const name of names) assert.ok(err.message.includes(name), `${err.message} names ${name}`);
    for (const secret of never) assert.ok(!JSON.stringify({ ...err, message: err.message, stack: err.stack }).includes(secret), `${err.message} holds no ${secret}`);
    return err.message;
  }
  assert.fail(`createRuntime accepted ${JSON.stringify(options)}`);
}

/** An OpenAI-compatible server that records the URL of every request. */
async function recordingServer(): Promise<{ server: Server; url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
        return;
      }
      const stream = (JSON.parse(body) as { stream?: boolean }).stream === true;
      const chunk = (delta: object, finish: string | null) => ({ id: 'c', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] });
      if (stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify(chunk({ content: 'hi' }, null))}\n\ndata: ${JSON.stringify(chunk({}, 'stop'))}\n\ndata: [DONE]\n\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({ id: 'c', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

for (const workers of [1, 2]) {
  const base = { ...TEST_RUNTIME_DEFAULTS, workers };
  const provider = (config: Record<string, unknown>) => ({ ...base, providers: { p: { kind: 'openai', baseUrl: URL_OK, ...config } } });

  describe(`createRuntime refuses bad options with CONFIG (workers: ${workers})`, () => {
    test('unknown keys, nested ones included, name the key and the nearest known one', async () => {
      const cases: [unknown, string[]][] = [
        [{ ...base, providers: { p: { kind: 'ollama', baseURL: URL_OK } } }, ['options.providers.p.baseURL', 'baseUrl']],
        [{ ...base, providers: { p: { kind: 'openai', baseUrl: URL_OK, api_key: KEY } } }, ['options.providers.p.api_key', 'apiKey']],
        [{ ...base, providers: { p: { kind: 'ollama', version: '1' } } }, ['options.providers.p.version']],
        [{ ...provider({}), timeoutMS: 5 }, ['options.timeoutMS', 'timeoutMs']],
        [{ ...provider({}), maxRetry: 5 }, ['options.maxRetry', 'maxRetries']],
        [{ ...provider({}), restart: { maxRestart: 1 } }, ['options.restart.maxRestart', 'maxRestarts']],
        [{ ...provider({}), breaker: { cooldown: 1 } }, ['options.breaker.cooldown', 'cooldownMs']],
        [{ ...provider({}), resourceLimits: { maxOldSpaceMb: 64 } }, ['options.resourceLimits.maxOldSpaceMb', 'maxOldGenerationSizeMb']],
        [{ ...provider({}), defaultProvider: 'P' }, ['options.defaultProvider', 'p']],
      ];
      for (const [options, names] of cases) await configError(options, names);
    });

    test('header values with CR, LF, NUL, control or non-Latin-1 characters are refused without printing them', async () => {
      const bad = [`${KEY}\r\n`, `${KEY}\nX-Injected: 1`, `${KEY}\u0000`, `${KEY}\u200b`, `\u201c${KEY}\u201d`, `${KEY}\u0007`, ` ${KEY}`];
      for (const value of bad) {
        await configError(provider({ apiKey: value }), ['options.providers.p.apiKey']);
        await configError(provider({ headers: { 'x-api-key': value } }), ['options.providers.p.headers["x-api-key"]']);
        await configError({ ...base, providers: { a: { kind: 'anthropic', apiKey: 'sk-ant-ok-123456', version: value } } }, ['options.providers.a.version']);
      }
    });

    test('invalid and hop-by-hop header names are refused; a name holding a whole header line is not printed', async () => {
      await configError(provider({ headers: { [`Authorization: Bearer ${KEY}`]: 'x' } }), ['options.providers.p.headers', '#1']);
      await configError(provider({ headers: { 'x ok': 'x' } }), ['options.providers.p.headers']);
      for (const name of ['Connection', 'keep-alive', 'Transfer-Encoding', 'upgrade', 'te', 'trailer', 'proxy-connection', 'content-length']) {
        await configError(provider({ headers: { [name]: 'x' } }), [name]);
      }
    });

    test('baseUrl: a fragment, credentials before the host, another scheme or no URL at all; the URL is never printed', async () => {
      await configError(provider({ baseUrl: `${URL_OK}/v1#${KEY}` }), ['options.providers.p.baseUrl', 'fragment']);
      await configError(provider({ baseUrl: `http://user:${KEY}@127.0.0.1:9/v1` }), ['options.providers.p.baseUrl']);
      await configError(provider({ baseUrl: `http://${KEY}@127.0.0.1:9/v1` }), ['options.providers.p.baseUrl']);
      await configError(provider({ baseUrl: `ftp://127.0.0.1/${KEY}` }), ['options.providers.p.baseUrl', 'ftp:']);
      await configError(provider({ baseUrl: `127.0.0.1:9/v1?key=${KEY}` }), ['options.providers.p.baseUrl']);
      await configError(provider({ baseUrl: `http://exa mple.com/?key=${KEY}` }), ['options.providers.p.baseUrl']);
    });

    test('worker settings Node refuses or V8 would crash-loop on', async () => {
      await configError({ ...provider({}), workerExecArgv: ['--expose-gc'] }, ['options.workerExecArgv', '--expose-gc']);
      await configError({ ...provider({}), workerExecArgv: ['--no-such-flag-for-parley'] }, ['options.workerExecArgv']);
      await configError({ ...provider({}), workerExecArgv: ['--import'] }, ['options.workerExecArgv', '--import']);
      await configError({ ...provider({}), resourceLimits: { maxOldGenerationSizeMb: -1 } }, ['options.resourceLimits.maxOldGenerationSizeMb']);
      await configError({ ...provider({}), resourceLimits: { maxYoungGenerationSizeMb: -5 } }, ['options.resourceLimits.maxYoungGenerationSizeMb']);
      await configError({ ...provider({}), resourceLimits: { stackSizeMb: 0.01 } }, ['options.resourceLimits.stackSizeMb']);
      await configError({ ...provider({}), resourceLimits: { codeRangeSizeMb: 'big' } }, ['options.resourceLimits.codeRangeSizeMb']);
    });
  });

  describe(`a baseUrl query string reaches every endpoint (workers: ${workers})`, () => {
    let srv: Awaited<ReturnType<typeof recordingServer>>;
    before(async () => {
      srv = await recordingServer();
    });
    after(() => new Promise<void>((resolve) => srv.server.close(() => resolve())));

    test('chat, stream, models and health go to path + ?api-version=…', async () => {
      const rt = await createRuntime({ ...base, providers: { azure: { kind: 'openai', baseUrl: `${srv.url}/openai/v1?api-version=2024-10-21`, apiKey: KEY } } });
      try {
        srv.seen.length = 0;
        assert.equal((await rt.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })).content, 'hi');
        let text = '';
        for await (const event of rt.stream({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })) if (event.type === 'text') text += event.text;
        assert.equal(text, 'hi');
        assert.equal((await rt.models())[0]?.id, 'm');
        assert.equal((await rt.health('azure')).ok, true);
        assert.ok(srv.seen.length >= 4);
        for (const url of srv.seen) {
          assert.match(url, /^\/openai\/v1\/(chat\/completions|models)\?api-version=2024-10-21$/, url);
        }
      } finally {
        await rt.shutdown({ graceMs: 500 });
      }
    });
  });
}
