/**
 * TLS over real HTTPS (the model server's TLS mode, a certificate made by
 * the test), in both modes: a provider's `ca` is trusted on top of Node's
 * roots and NODE_EXTRA_CA_CERTS; an untrusted certificate is UNREACHABLE
 * with the TLS reason, not retried, and a hint about `ca`; the door checks
 * `ca` and `proxy`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createRuntime, ParleyError, type ProviderConfig, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ask, collect, rejectsWith, TEST_RUNTIME_DEFAULTS, textOf } from './helpers/fixtures.ts';
import { makeCertificate, type TestCertificate } from './helpers/network-fixtures.ts';
import { codeUrl, TS_LOADER } from './helpers/checkout.ts';

const run = promisify(execFile);

/** The `code` of every error in a cause chain, outermost first. */
function codesOf(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined; e && typeof e === 'object'; e = e.cause as typeof e) {
    if (typeof e.code === 'string') out.push(e.code);
  }
  return out;
}

async function withRuntime(providers: Record<string, ProviderConfig>, workers: number, body: (rt: Runtime) => Promise<void>): Promise<void> {
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, providers, workers, maxRetries: 2 });
  try {
    await body(rt);
  } finally {
    await rt.shutdown({ graceMs: 500 });
  }
}

let certificate: TestCertificate;
let other: TestCertificate;
let secure: ModelServer;
let misnamed: ModelServer;

before(async () => {
  certificate = makeCertificate(['127.0.0.1']);
  other = makeCertificate(['127.0.0.1']);
  secure = await startModelServer({ tls: certificate });
  misnamed = await startModelServer({ tls: makeCertificate(['gateway.internal']) });
});
after(async () => {
  await Promise.all([secure.close(), misnamed.close()]);
});

for (const workers of [1, 2]) {
  describe(`TLS (workers: ${workers})`, () => {
    test('a provider whose ca signs the certificate: chat and stream over HTTPS', async () => {
      await withRuntime({ tls: { kind: 'openai', baseUrl: `${secure.url}/v1`, ca: certificate.cert } }, workers, async (rt) => {
        assert.ok((await rt.chat(ask('over tls'))).content.length > 0);
        const { events, error } = await collect(rt.stream(ask('streamed over tls')));
        assert.equal(error, undefined);
        assert.ok(textOf(events).length > 0);
      });
    });

    test('an untrusted certificate: UNREACHABLE with the TLS reason and a hint about ca, not retried', async () => {
      const before = secure.stats().connectionsAccepted;
      await withRuntime(
        { untrusted: { kind: 'openai', baseUrl: `${secure.url}/v1` }, wrongCa: { kind: 'openai', baseUrl: `${secure.url}/v1`, ca: other.cert } },
        workers,
        async (rt) => {
          for (const provider of ['untrusted', 'wrongCa']) {
            const err = await rejectsWith(rt.chat(ask('untrusted', { provider })), 'UNREACHABLE');
            assert.equal(err.retryable, false);
            assert.ok(
              codesOf(err).some((c) => ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'].includes(c)),
              `a TLS verdict in the cause chain: ${codesOf(err).join(', ')}`,
            );
            assert.match(err.message, /"ca"/);
          }
        },
      );
      assert.equal(secure.stats().connectionsAccepted - before, 2, 'one handshake per call: an untrusted certificate is not retried');
    });

    test('a certificate for another host name is UNREACHABLE, even when its CA is trusted', async () => {
      const cert = misnamed.url;
      await withRuntime({ gw: { kind: 'ollama', baseUrl: cert } }, workers, async (rt) => {
        const err = await rejectsWith(rt.chat(ask('misnamed')), 'UNREACHABLE');
        assert.equal(err.retryable, false);
      });
    });
  });
}

describe('NODE_EXTRA_CA_CERTS', () => {
  test('is respected inside the worker, alongside a provider ca, in both modes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-extra-ca-'));
    try {
      const file = join(dir, 'extra.pem');
      writeFileSync(file, certificate.cert);
      const index = codeUrl('src/index.ts');
      // Node reads NODE_EXTRA_CA_CERTS once, at process start: a child process it is.
      const script = `
        import { createRuntime } from ${JSON.stringify(index)};
        const [url, otherCa] = process.argv.slice(2);
        const out = [];
        for (const workers of [1, 2]) {
          const rt = await createRuntime({ workers, timeoutMs: 20000, heartbeatTimeoutMs: 10000, providers: {
            env: { kind: 'openai', baseUrl: url + '/v1' },
            both: { kind: 'openai', baseUrl: url + '/v1', ca: otherCa },
          } });
          try {
            for (const provider of ['env', 'both']) {
              const r = await rt.chat({ provider, model: 'parley-echo', messages: [{ role: 'user', content: 'hi' }] }).then((x) => 'ok', (e) => e.code);
              out.push(r);
            }
          } finally { await rt.shutdown({ graceMs: 500 }); }
        }
        process.stdout.write(JSON.stringify(out));
      `;
      // A file, not --eval: a worker inherits the flags, and --input-type would kill it.
      writeFileSync(join(dir, 'probe.mjs'), script);
      const { stdout } = await run(process.execPath, [...TS_LOADER, join(dir, 'probe.mjs'), secure.url, other.cert], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: file },
        timeout: 120_000,
      });
      assert.deepEqual(JSON.parse(stdout), ['ok', 'ok', 'ok', 'ok']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the door: proxy and ca', () => {
  const base = { kind: 'ollama', baseUrl: 'http://127.0.0.1:11434' } as const;
  const cases: [string, Record<string, unknown>][] = [
    ['a proxy that is not a URL', { providers: { p: { ...base, proxy: 'proxy.corp:3128' } } }],
    ['a socks proxy', { providers: { p: { ...base, proxy: 'ftp://proxy.corp' } } }],
    ['a proxy with a path', { providers: { p: { ...base, proxy: 'http://proxy.corp:3128/path' } } }],
    ['a proxy that is true', { providers: { p: base }, proxy: true }],
    ['a runtime proxy with a fragment', { providers: { p: base }, proxy: 'http://proxy.corp:3128#x' }],
    ['a ca that is a path', { providers: { p: { ...base, ca: '/etc/ssl/ca.pem' } } }],
    ['a ca that does not parse', { providers: { p: { ...base, ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' } } }],
    ['a ca that is a Buffer', { providers: { p: { ...base, ca: Buffer.from('x') } } }],
    ['a mistyped proxy key', { providers: { p: base }, proxys: 'http://proxy.corp:3128' }],
  ];
  for (const [what, options] of cases) {
    test(`createRuntime refuses ${what} with CONFIG, printing no value`, async () => {
      const err = await rejectsWith(createRuntime(options as never), 'CONFIG');
      assert.ok(err instanceof ParleyError);
      assert.ok(!err.message.includes("proxy.corp:3128") && !err.message.includes("ftp:"));
    });
  }

  test('a proxy password pasted where it fails is not printed', async () => {
    const err = await rejectsWith(createRuntime({ providers: { p: { ...base, proxy: 'http://u:hunter2-secret@proxy.corp:3128/x' } } }), 'CONFIG');
    assert.ok(!JSON.stringify(err).includes('hunter2-secret'));
  });
});
