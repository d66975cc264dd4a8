/**
 * Proxies, through a real CONNECT-capable forward proxy, in both modes: the
 * explicit `proxy` option (runtime and provider), the environment's
 * HTTP(S)_PROXY and NO_PROXY in either case, loopback never proxied by the
 * environment, HTTPS tunnelled through CONNECT, and a proxy that refuses or
 * is down: UNREACHABLE naming the proxy, its credentials never printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { createRuntime, type ProviderConfig, type Runtime, type RuntimeOptions } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { ask, closedPort, collect, rejectsWith, TEST_RUNTIME_DEFAULTS, textOf } from './helpers/fixtures.ts';
import { makeCertificate, nonLoopbackAddress, startProxy, withProxyEnv, type TestCertificate } from './helpers/network-fixtures.ts';

const PROXY_PASSWORD = 'pr0xy-pass-9Tq4Lm7Vx2';

async function withRuntime(options: Omit<RuntimeOptions, 'workers'>, workers: number, body: (rt: Runtime) => Promise<void>): Promise<void> {
  const rt = await createRuntime({ ...TEST_RUNTIME_DEFAULTS, ...options, workers });
  try {
    await body(rt);
  } finally {
    await rt.shutdown({ graceMs: 500 });
  }
}

function hostOf(server: ModelServer): string {
  return new URL(server.url).host;
}

for (const workers of [1, 2]) {
  describe(`proxies (workers: ${workers})`, () => {
    let plain: ModelServer;
    let secure: ModelServer;
    let certificate: TestCertificate;
    const lan = nonLoopbackAddress();
    let lanServer: ModelServer | undefined;

    before(async () => {
      certificate = makeCertificate(['127.0.0.1', 'localhost']);
      plain = await startModelServer();
      secure = await startModelServer({ tls: certificate });
      if (lan) lanServer = await startModelServer({ host: lan });
    });
    after(async () => {
      await Promise.all([plain.close(), secure.close(), lanServer?.close()]);
    });

    test('runtime proxy: plain HTTP goes through the proxy, chat and stream', async () => {
      const proxy = await startProxy();
      try {
        await withRuntime({ providers: { local: { kind: 'ollama', baseUrl: plain.url } }, proxy: proxy.url }, workers, async (rt) => {
          const result = await rt.chat(ask('through the proxy'));
          assert.ok(result.content.length > 0);
          const { events, error } = await collect(rt.stream(ask('streamed through the proxy')));
          assert.equal(error, undefined);
          assert.ok(textOf(events).length > 0);
        });
        assert.ok(proxy.tunnels.length >= 1);
        assert.ok(proxy.tunnels.every((t) => t === hostOf(plain)));
      } finally {
        await proxy.close();
      }
    });

    test('HTTPS through CONNECT, with the server certificate trusted by `ca`', async () => {
      const proxy = await startProxy();
      try {
        const providers = { tls: { kind: 'openai', baseUrl: `${secure.url}/v1`, ca: certificate.cert, proxy: proxy.url } } satisfies Record<string, ProviderConfig>;
        await withRuntime({ providers }, workers, async (rt) => {
          assert.ok((await rt.chat(ask('tunnelled'))).content.length > 0);
        });
        assert.deepEqual([...new Set(proxy.tunnels)], [hostOf(secure)]);
      } finally {
        await proxy.close();
      }
    });

    test("a provider's proxy overrides the runtime's; proxy: false connects directly", async () => {
      const used = await startProxy();
      const unused = await startProxy();
      try {
        const providers: Record<string, ProviderConfig> = {
          own: { kind: 'ollama', baseUrl: plain.url, proxy: used.url },
          direct: { kind: 'ollama', baseUrl: plain.url, proxy: false },
        };
        await withRuntime({ providers, proxy: unused.url }, workers, async (rt) => {
          await rt.chat(ask('own proxy', { provider: 'own' }));
          await rt.chat(ask('no proxy', { provider: 'direct' }));
        });
        assert.ok(used.tunnels.length >= 1);
        assert.equal(unused.tunnels.length, 0);
      } finally {
        await Promise.all([used.close(), unused.close()]);
      }
    });

    test('proxy credentials are sent to the proxy and never printed', async () => {
      const expected = `Basic ${Buffer.from(`parley:${PROXY_PASSWORD}`).toString('base64')}`;
      const proxy = await startProxy((req) => req.headers['proxy-authorization'] === expected);
      try {
        const url = `http://parley:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}`;
        await withRuntime({ providers: { local: { kind: 'ollama', baseUrl: plain.url } }, proxy: url }, workers, async (rt) => {
          await rt.chat(ask('authenticated'));
          const stats = await rt.stats();
          for (const text of [JSON.stringify(stats), inspect(stats, { depth: 10 })]) {
            assert.ok(!text.includes(PROXY_PASSWORD));
            assert.ok(!text.includes(expected.slice(6)));
          }
        });
        assert.ok(proxy.authorizations.every((a) => a === expected));
      } finally {
        await proxy.close();
      }
    });

    test('a proxy that refuses: UNREACHABLE naming the proxy, not retried, no credentials printed', async () => {
      const proxy = await startProxy(() => false);
      try {
        const url = `http://parley:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}`;
        await withRuntime({ providers: { local: { kind: 'ollama', baseUrl: plain.url } }, proxy: url, maxRetries: 2 }, workers, async (rt) => {
          const err = await rejectsWith(rt.chat(ask('refused')), 'UNREACHABLE');
          assert.equal(err.retryable, false);
          assert.ok(err.message.includes(`127.0.0.1:${proxy.port}`), 'the message names the proxy');
          assert.ok(!err.message.includes(hostOf(plain)), 'the provider was not reached, so it is not blamed');
          for (const text of [JSON.stringify(err), inspect(err, { depth: 10 })]) assert.ok(!text.includes(PROXY_PASSWORD));
          const streamed = await collect(rt.stream(ask('refused stream')));
          assert.equal((streamed.error as { code?: string }).code, 'UNREACHABLE');
        });
        assert.equal(proxy.tunnels.filter((t) => t === hostOf(plain)).length, 2, 'one CONNECT per call: a refusal is final');
      } finally {
        await proxy.close();
      }
    });

    test('a proxy that is down: UNREACHABLE naming the proxy', async () => {
      const port = await closedPort();
      await withRuntime({ providers: { local: { kind: 'ollama', baseUrl: plain.url } }, proxy: `http://127.0.0.1:${port}`, maxRetries: 0 }, workers, async (rt) => {
        const err = await rejectsWith(rt.chat(ask('nobody home')), 'UNREACHABLE');
        assert.ok(err.message.includes(`127.0.0.1:${port}`));
        assert.ok(!err.message.includes(hostOf(plain)));
      });
    });

    test('the environment: HTTP_PROXY (upper case) is used for a non-loopback origin', { skip: !lan && 'no non-loopback address' }, async () => {
      const proxy = await startProxy();
      try {
        await withProxyEnv({ HTTP_PROXY: proxy.url }, () =>
          withRuntime({ providers: { lan: { kind: 'ollama', baseUrl: lanServer!.url } } }, workers, async (rt) => {
            await rt.chat(ask('via the environment'));
          }),
        );
        assert.ok(proxy.tunnels.includes(hostOf(lanServer!)));
      } finally {
        await proxy.close();
      }
    });

    test('the environment: https_proxy (lower case) carries HTTPS through CONNECT', { skip: !lan && 'no non-loopback address' }, async () => {
      const proxy = await startProxy();
      const cert = makeCertificate([lan!]);
      const server = await startModelServer({ host: lan!, tls: cert });
      try {
        await withProxyEnv({ https_proxy: proxy.url }, () =>
          withRuntime({ providers: { lan: { kind: 'openai', baseUrl: `${server.url}/v1`, ca: cert.cert } } }, workers, async (rt) => {
            await rt.chat(ask('tls via the environment'));
          }),
        );
        assert.deepEqual([...new Set(proxy.tunnels)], [hostOf(server)]);
      } finally {
        await Promise.all([proxy.close(), server.close()]);
      }
    });

    test("the environment's proxy credentials are secrets too; a refusal names that proxy", { skip: !lan && 'no non-loopback address' }, async () => {
      const proxy = await startProxy(() => false);
      try {
        await withProxyEnv({ HTTP_PROXY: `http://parley:${PROXY_PASSWORD}@127.0.0.1:${proxy.port}` }, () =>
          withRuntime({ providers: { lan: { kind: 'ollama', baseUrl: lanServer!.url } } }, workers, async (rt) => {
            const err = await rejectsWith(rt.chat(ask('refused by the environment')), 'UNREACHABLE');
            assert.ok(err.message.includes(`127.0.0.1:${proxy.port}`));
            const basic = Buffer.from(`parley:${PROXY_PASSWORD}`).toString('base64');
            for (const text of [JSON.stringify(err), inspect(err, { depth: 10 }), JSON.stringify(await rt.stats())]) {
              assert.ok(!text.includes(PROXY_PASSWORD) && !text.includes(basic));
            }
          }),
        );
        assert.ok(proxy.authorizations.length >= 1 && proxy.authorizations.every((a) => a !== undefined), 'the credentials were sent to the proxy');
      } finally {
        await proxy.close();
      }
    });

    test('the environment: NO_PROXY and no_proxy bypass the proxy', { skip: !lan && 'no non-loopback address' }, async () => {
      const proxy = await startProxy();
      try {
        for (const noProxy of [{ NO_PROXY: lan! }, { no_proxy: `example.com,${lan!}` }]) {
          await withProxyEnv({ HTTP_PROXY: proxy.url, ...noProxy }, () =>
            withRuntime({ providers: { lan: { kind: 'ollama', baseUrl: lanServer!.url } } }, workers, async (rt) => {
              await rt.chat(ask('bypassing the proxy'));
            }),
          );
        }
        assert.equal(proxy.tunnels.length, 0);
      } finally {
        await proxy.close();
      }
    });

    test('the environment: loopback is never proxied; an explicit proxy: false ignores the environment', async () => {
      const proxy = await startProxy();
      try {
        await withProxyEnv({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url }, () =>
          withRuntime(
            {
              providers: {
                loopback: { kind: 'ollama', baseUrl: plain.url },
                localhost: { kind: 'ollama', baseUrl: `http://localhost:${plain.port}` },
                ...(lanServer ? { lan: { kind: 'ollama', baseUrl: lanServer.url, proxy: false } } : {}),
              },
            },
            workers,
            async (rt) => {
              await rt.chat(ask('local', { provider: 'loopback' }));
              await rt.chat(ask('local by name', { provider: 'localhost' }));
              if (lanServer) await rt.chat(ask('direct', { provider: 'lan' }));
            },
          ),
        );
        assert.equal(proxy.tunnels.length, 0);
      } finally {
        await proxy.close();
      }
    });
  });
}
