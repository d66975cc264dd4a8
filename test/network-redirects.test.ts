/**
 * Redirects are not followed, and a key never reaches another origin: a
 * provider that answers 301/302/307/308 to a server of another origin ends
 * the call with HTTP (its status), and that server sees no request at all.
 * Both modes; chat, stream and models.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createRuntime } from '../src/index.ts';
import { ask, collect, rejectsWith, TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

const KEY = 'sk-redirect-3Jf8Qw2Zp6Lx';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let elsewhere: Server;
let elsewhereUrl: string;
const seenElsewhere: string[] = [];
let redirecting: Server;
let redirectingUrl: string;
let status = 302;

before(async () => {
  elsewhere = createServer((req, res) => {
    seenElsewhere.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    res.end('{}');
  });
  elsewhereUrl = await listen(elsewhere);
  redirecting = createServer((req, res) => {
    req.resume();
    res.writeHead(status, { location: `${elsewhereUrl}${req.url}` });
    res.end();
  });
  redirectingUrl = await listen(redirecting);
});
after(async () => {
  for (const server of [elsewhere, redirecting]) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

for (const workers of [1, 2]) {
  describe(`redirects (workers: ${workers})`, () => {
    for (const code of [301, 302, 307, 308]) {
      test(`a ${code} is an HTTP error; the other origin never sees the key`, async () => {
        status = code;
        const rt = await createRuntime({
          ...TEST_RUNTIME_DEFAULTS,
          workers,
          providers: { p: { kind: 'openai', baseUrl: `${redirectingUrl}/v1`, apiKey: KEY } },
        });
        try {
          const err = await rejectsWith(rt.chat(ask('follow me')), 'HTTP');
          assert.equal(err.status, code);
          const streamed = await collect(rt.stream(ask('follow me too')));
          assert.equal((streamed.error as { code?: string }).code, 'HTTP');
          await rejectsWith(rt.models(), 'HTTP');
        } finally {
          await rt.shutdown({ graceMs: 500 });
        }
        assert.deepEqual(seenElsewhere, []);
      });
    }
  });
}
