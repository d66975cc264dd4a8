import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Agent, fetch } from 'undici';
import { startModelServer, type ModelServer, type ModelServerOptions } from '../src/testing/index.ts';
import { waitFor } from './helpers/wait-for.ts';

/** Starts a server and an undici Agent of its own, and always cleans both up. */
async function withServer(options: ModelServerOptions, body: (server: ModelServer, agent: Agent) => Promise<void>): Promise<void> {
  const server = await startModelServer(options);
  // One connection per origin: undici may otherwise open a second socket for a request sent right after a response, which would blur the counts.
  const agent = new Agent({ connections: 1 });
  try {
    await body(server, agent);
  } finally {
    await agent.destroy();
    await server.close();
  }
}

const chat = JSON.stringify({ model: 'parley-echo', messages: [{ role: 'user', content: 'count my sockets' }], stream: false });
const post = (server: ModelServer, agent: Agent, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/api/chat`, { method: 'POST', body: chat, dispatcher: agent, headers });
const stallHeader = { 'x-parley-fault': JSON.stringify({ kind: 'stall', afterTokens: 1 }) };

describe('model server connections and lifecycle', () => {
  test('stats() counts keep-alive reuse, and connectionsOpen returns to 0 once the client closes', async () => {
    await withServer({}, async (server, agent) => {
      assert.equal((await (await post(server, agent)).json() as { done: boolean }).done, true);
      assert.equal((await (await post(server, agent)).json() as { done: boolean }).done, true);
      assert.deepEqual(server.stats(), { connectionsOpen: 1, connectionsAccepted: 1, requestsServed: 2, responsesBlocked: 0 });
      await agent.close();
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'connectionsOpen back to 0' });
    });
  });

  test('close() destroys sockets with a response in flight, refuses new connections and is idempotent', async () => {
    const server = await startModelServer();
    const agent = new Agent({ connections: 1 });
    try {
      const res = await fetch(`${server.url}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'm', messages: [] }), dispatcher: agent, headers: stallHeader });
      const reader = res.body!.getReader();
      await reader.read();
      await Promise.all([server.close(), server.close()]);
      await server.close();
      assert.equal(server.stats().connectionsOpen, 0);
      await assert.rejects(async () => {
        for (;;) if ((await reader.read()).done) break;
      });
      await assert.rejects(post(server, agent), (err: Error) => (err.cause as { code?: string })?.code === 'ECONNREFUSED');
    } finally {
      await agent.destroy();
      await server.close();
    }
  });

  test('dropConnections() destroys idle keep-alive sockets; the client reconnects', async () => {
    await withServer({}, async (server, agent) => {
      await (await post(server, agent)).text();
      assert.equal(server.stats().connectionsOpen, 1);
      server.dropConnections();
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'dropped' });
      await (await post(server, agent)).text();
      assert.equal(server.stats().connectionsAccepted, 2);
    });
  });

  test('refuse(true) makes connections fail with ECONNREFUSED; refuse(false) listens on the same port again', async () => {
    await withServer({}, async (server, agent) => {
      const port = server.port;
      await (await post(server, agent)).text();
      await server.refuse(true);
      assert.equal(server.stats().connectionsOpen, 0);
      await assert.rejects(post(server, agent), (err: Error) => (err.cause as { code?: string })?.code === 'ECONNREFUSED');
      await server.refuse(false);
      assert.equal(server.port, port);
      assert.equal((await post(server, agent)).status, 200);
    });
  });

  test('restart() breaks the stream in flight and serves again on the same port', async () => {
    await withServer({}, async (server, agent) => {
      const port = server.port;
      const res = await post(server, agent, stallHeader);
      const pending = res.text();
      await server.restart();
      await assert.rejects(pending);
      assert.equal(server.port, port);
      assert.equal((await post(server, agent)).status, 200);
    });
  });

  test('closeAfterRequests sends Connection: close on the Nth response of each socket', async () => {
    await withServer({ closeAfterRequests: 2 }, async (server, agent) => {
      const first = await post(server, agent);
      await first.text();
      const second = await post(server, agent);
      await second.text();
      assert.equal(first.headers.get('connection'), 'keep-alive');
      assert.equal(second.headers.get('connection'), 'close');
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'socket closed after 2 requests' });
      await (await post(server, agent)).text();
      assert.equal(server.stats().connectionsAccepted, 2);
    });
  });

  test('keepAliveTimeoutMs closes idle sockets on the server side', async () => {
    await withServer({ keepAliveTimeoutMs: 30 }, async (server, agent) => {
      await (await post(server, agent)).text();
      await waitFor(() => server.stats().connectionsOpen === 0, { what: 'idle socket timed out' });
    });
  });

  test('setOptions({ tokenDelayMs }) paces the tokens of later streams', async () => {
    await withServer({}, async (server, agent) => {
      server.setOptions({ tokenDelayMs: 15 });
      const started = performance.now();
      const body = JSON.stringify({ model: 'parley-echo', messages: [{ role: 'user', content: 'slowly' }], options: { num_predict: 5 } });
      const lines = (await (await fetch(`${server.url}/api/chat`, { method: 'POST', body, dispatcher: agent })).text()).trim().split('\n');
      assert.equal(lines.length, 6);
      assert.ok(performance.now() - started >= 70, '5 tokens × 15 ms');
    });
  });

  test('requests keeps only the last 100', async () => {
    await withServer({}, async (server, agent) => {
      for (let i = 0; i < 105; i++) await (await fetch(`${server.url}/api/version?i=${i}`, { dispatcher: agent })).text();
      assert.equal(server.requests.length, 100);
      assert.equal(server.requests[0]!.path, '/api/version?i=5');
      assert.equal(server.requests.at(-1)!.body, undefined);
    });
  });

  test('options are validated at the door with the option named', async () => {
    await assert.rejects(startModelServer({ tokenDelayMs: -1 }), /options\.tokenDelayMs must be a number >= 0/);
    await assert.rejects(startModelServer({ fault: { kind: 'reset', afterTokens: -2 } }), /options\.fault\.afterTokens must be an integer >= 0/);
    await withServer({}, async (server) => {
      assert.throws(() => server.setOptions({ port: 1 }), /port and host are fixed/);
      assert.throws(() => server.setOptions({ tools: 'sometimes' as 'auto' }), /options\.tools must be 'auto' or 'never'/);
    });
  });
});
