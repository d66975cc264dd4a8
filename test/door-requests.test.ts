/**
 * The door of a call, in both modes: unknown keys in requests, call
 * options and conversation init are refused with the nearest known name;
 * a request is copied once into plain data, so Proxies over plain data
 * (reactive state) work, and what cannot be plain data is INVALID_REQUEST
 * naming its path, before any I/O; a provider's defaultModel is used when a
 * request names no model.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRuntime, ParleyError, type ChatInput, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';

const USER = [{ role: 'user' as const, content: 'hello' }];

/**
 * Vue 3's reactive() in miniature: a Proxy over the plain object, nested
 * objects wrapped on read through a cache (so one target has one Proxy),
 * every read and key listing passing through traps.
 */
function reactive<T extends object>(target: T): T {
  const proxies = new WeakMap<object, object>();
  const reads: PropertyKey[] = [];
  const wrap = (t: object): object => {
    let p = proxies.get(t);
    if (!p) {
      p = new Proxy(t, {
        get(obj, key, receiver) {
          if (key === '__v_raw') return obj;
          reads.push(key);
          const v: unknown = Reflect.get(obj, key, receiver);
          return typeof v === 'object' && v !== null ? wrap(v) : v;
        },
        ownKeys(obj) {
          reads.push('ownKeys');
          return Reflect.ownKeys(obj);
        },
        set(obj, key, value, receiver) {
          return Reflect.set(obj, key, value, receiver);
        },
      });
      proxies.set(t, p);
    }
    return p;
  };
  return wrap(target) as T;
}

/** MobX's non-proxy observables: each field an own enumerable accessor. */
function observableFields<T extends Record<string, unknown>>(fields: T): T {
  const out = {} as T;
  for (const [key, value] of Object.entries(fields)) {
    Object.defineProperty(out, key, { get: () => value, enumerable: true, configurable: true });
  }
  return out;
}

async function rejection(promise: Promise<unknown>): Promise<ParleyError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ParleyError, `a ParleyError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

async function streamRejection(iterable: AsyncIterable<unknown>): Promise<ParleyError> {
  return rejection(
    (async () => {
      for await (const _ of iterable) {
        // drained
      }
    })(),
  );
}

for (const workers of [1, 2]) {
  describe(`the door of a call (workers: ${workers})`, () => {
    let server: ModelServer;
    let rt: Runtime;
    before(async () => {
      server = await startModelServer();
      rt = await createRuntime({
        ...TEST_RUNTIME_DEFAULTS,
        workers,
        providers: {
          local: { kind: 'ollama', baseUrl: server.url, defaultModel: 'parley-small' },
          nodefault: { kind: 'openai', baseUrl: `${server.url}/v1` },
        },
      });
    });
    after(async () => {
      await rt.shutdown({ graceMs: 500 });
      await server.close();
    });

    /** INVALID_REQUEST from chat and from stream, with no request reaching the server. */
    async function refused(req: unknown, opts?: unknown): Promise<ParleyError> {
      const served = server.stats().requestsServed;
      const fromChat = await rejection(rt.chat(req as ChatInput, opts as undefined));
      const fromStream = await streamRejection(rt.stream(req as ChatInput, opts as undefined));
      assert.equal(fromChat.code, 'INVALID_REQUEST', fromChat.message);
      assert.equal(fromStream.code, 'INVALID_REQUEST', fromStream.message);
      assert.equal(fromStream.message, fromChat.message);
      assert.equal(server.stats().requestsServed, served, 'nothing reached the provider');
      return fromChat;
    }

    test('unknown request, message, tool and call option keys are refused, naming the key and the nearest field', async () => {
      const cases: [unknown, unknown, string[]][] = [
        [{ model: 'parley-echo', messages: USER, maxToken: 5 }, undefined, ['request.maxToken', 'maxTokens']],
        [{ model: 'parley-echo', messages: USER, max_tokens: 5 }, undefined, ['request.max_tokens', 'maxTokens']],
        [{ model: 'parley-echo', messages: USER, top_k: 5 }, undefined, ['request.top_k', 'request.extra']],
        [{ model: 'parley-echo', messages: [{ role: 'tool', content: 'x', tool_call_id: 'c1' }] }, undefined, ['request.messages[0].tool_call_id', 'toolCallId']],
        [{ model: 'parley-echo', messages: USER, tools: [{ name: 'f', paramters: {} }] }, undefined, ['request.tools[0].paramters', 'parameters']],
        [{ model: 'parley-echo', messages: USER }, { timeout: 50 }, ['options.timeout', 'timeoutMs']],
        [{ model: 'parley-echo', messages: USER }, { timeoutMS: 50 }, ['options.timeoutMS', 'timeoutMs']],
      ];
      for (const [req, opts, names] of cases) {
        const err = await refused(req, opts);
        for (const name of names) assert.ok(err.message.includes(name), `${err.message} names ${name}`);
      }
    });

    test('conversation init refuses an unknown key with the nearest field', async () => {
      await assert.rejects(rt.conversation({ model: 'parley-echo', sytem: 'be brief' } as never), (err: unknown) => {
        assert.ok(err instanceof ParleyError);
        assert.equal(err.code, 'INVALID_REQUEST');
        assert.ok(err.message.includes('init.sytem') && err.message.includes('system'), err.message);
        return true;
      });
    });

    test('a request of reactive state (Proxies over plain data, accessor fields) works in chat and stream', async () => {
      const state = reactive({
        model: 'parley-echo',
        messages: [{ role: 'user' as const, content: 'hello from a proxy' }],
        extra: { options: { num_ctx: 2048 } },
        tools: [{ name: 'lookup', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
      });
      // The model server calls the first tool offered: the tool reached it.
      const result = await rt.chat(state);
      assert.equal(result.toolCalls?.[0]?.name, 'lookup');
      const body = server.requests.at(-1)!.body as { options?: { num_ctx?: number }; tools?: unknown[] };
      assert.equal(body.options?.num_ctx, 2048, 'extra reached the body');
      const events: string[] = [];
      for await (const event of rt.stream(state)) events.push(event.type);
      assert.deepEqual([events.includes('tool_call'), events.at(-1)], [true, 'done']);
      const mobx = observableFields({ model: 'parley-echo', messages: [observableFields({ role: 'user', content: 'hi' })] });
      assert.ok((await rt.chat(mobx as unknown as ChatInput)).content.length > 0);
    });

    test('what cannot be plain data is INVALID_REQUEST naming its path', async () => {
      const throwing = {};
      Object.defineProperty(throwing, 'b', { enumerable: true, get: () => { throw new Error('getter boom'); } });
      const revocable = Proxy.revocable({ x: 1 }, {});
      revocable.revoke();
      const cyclic: Record<string, unknown> = { n: 1 };
      cyclic.self = cyclic;
      const tools = (parameters: unknown) => [{ name: 'a' }, { name: 'b' }, { name: 'c', parameters }];
      const badContent = { role: 'user' };
      Object.defineProperty(badContent, 'content', { enumerable: true, get: () => { throw new Error('boom'); } });
      const cases: [string, Record<string, unknown>, string][] = [
        ['a getter that throws', { extra: { a: throwing } }, 'request.extra.a.b'],
        ['a revoked Proxy', { extra: { a: revocable.proxy } }, 'request.extra.a'],
        ['a function', { tools: tools({ type: 'object', default: () => 1 }) }, 'request.tools[2].parameters.default'],
        ['a symbol', { extra: { a: { b: Symbol('s') } } }, 'request.extra.a.b'],
        ['a BigInt', { extra: { a: { b: 10n } } }, 'request.extra.a.b'],
        ['a cycle', { extra: { a: cyclic } }, 'request.extra.a.self'],
        ['a class instance', { extra: { when: new Date(0) } }, 'request.extra.when'],
        ['NaN', { extra: { t: Number.NaN } }, 'request.extra.t'],
        ['a throwing message getter', { messages: [badContent] }, 'request.messages[0]'],
        ['a revoked request', revocable.proxy as unknown as Record<string, unknown>, 'request'],
      ];
      for (const [what, fields, path] of cases) {
        const req = fields === revocable.proxy ? fields : { model: 'parley-echo', messages: USER, ...fields };
        const err = await refused(req);
        assert.ok(err.message.startsWith(path), `${what}: ${err.message} names ${path}`);
      }
    });

    test('defaultModel is used when a request names no model; no model and no defaultModel is INVALID_REQUEST', async () => {
      const result = await rt.chat({ provider: 'local', messages: USER });
      assert.equal(result.model, 'parley-small');
      assert.equal((server.requests.at(-1)!.body as { model: string }).model, 'parley-small');
      let model = '';
      for await (const event of rt.stream({ messages: USER })) if (event.type === 'done') model = event.result.model;
      assert.equal(model, 'parley-small', 'the default provider is local');
      assert.equal((await rt.chat({ provider: 'local', model: 'parley-echo', messages: USER })).model, 'parley-echo', 'a named model wins');
      const err = await refused({ provider: 'nodefault', messages: USER });
      assert.ok(err.message.includes('request.model'), err.message);
      await refused({ provider: ['local', 'nodefault'], messages: USER });
    });

    test('a conversation that names no model takes its provider\'s defaultModel; without one it is refused', async () => {
      const conversation = await rt.conversation({ provider: 'local' });
      assert.equal(conversation.model, 'parley-small');
      assert.equal((await conversation.send('hello')).model, 'parley-small');
      await conversation.close();
      await assert.rejects(rt.conversation({ provider: 'nodefault' }), (err: unknown) => err instanceof ParleyError && err.code === 'INVALID_REQUEST');
    });
  });
}
