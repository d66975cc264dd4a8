/**
 * Structured output on all three protocols, over real HTTP: one
 * responseFormat becomes response_format (OpenAI), format (Ollama) and
 * output_config.format or a forced tool (Anthropic); the model server
 * answers JSON that fits the schema it was sent; the host parses and
 * validates it into result.object, streams partial objects, and fails a
 * reply that is not JSON or does not fit with INVALID_OUTPUT.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import * as v from 'valibot';
import { toStandardJsonSchema } from '@valibot/to-json-schema';
import { type } from 'arktype';
import { InvalidOutputError, type ChatRequest, type StreamEvent } from '../src/index.ts';
import { ask, CHAT_PATHS, collect, PROTOCOLS, rejectsWith, startStack, type Protocol, type Stack } from './helpers/fixtures.ts';
import { waitFor } from './helpers/wait-for.ts';
import { codeUrl, TS_LOADER } from './helpers/checkout.ts';

const CITY = {
  type: 'object',
  properties: { city: { type: 'string' }, population: { type: 'integer' }, capital: { type: 'boolean' } },
  required: ['city', 'population', 'capital'],
  additionalProperties: false,
};
const QUESTION = 'Tell me about Paris';

describe('structured output on ollama, openai and anthropic', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({}, (server) => ({
      providers: {
        ollama: { kind: 'ollama', baseUrl: server.url },
        openai: { kind: 'openai', baseUrl: `${server.url}/v1` },
        anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'sk-ant-test-so' },
        'anthropic-tool': { kind: 'anthropic', baseUrl: server.url, apiKey: 'sk-ant-test-so', structuredOutput: 'tool' },
      },
    }));
  });
  after(() => stack.close());

  const lastBody = (kind: Protocol) => stack.server.requests.filter((r) => r.path === CHAT_PATHS[kind]).at(-1)!.body as Record<string, unknown>;
  const cityRequest = (provider: string, extra: Partial<ChatRequest> = {}): ChatRequest =>
    ask(QUESTION, { provider, responseFormat: { type: 'json-schema', schema: CITY, name: 'city_facts' }, ...extra });

  const WIRE: Record<Protocol, (body: Record<string, unknown>) => void> = {
    openai: (body) => assert.deepEqual(body.response_format, { type: 'json_schema', json_schema: { name: 'city_facts', schema: CITY } }),
    ollama: (body) => assert.deepEqual(body.format, CITY),
    anthropic: (body) => assert.deepEqual(body.output_config, { format: { type: 'json_schema', schema: CITY } }),
  };

  for (const kind of PROTOCOLS) {
    test(`chat() (${kind}): the schema goes on the wire, result.object is the validated value`, async () => {
      const result = await stack.rt.chat(cityRequest(kind));
      WIRE[kind](lastBody(kind));
      assert.deepEqual(result.object, { city: QUESTION, population: 1, capital: true });
      assert.deepEqual(JSON.parse(result.content), result.object);
    });

    test(`stream() (${kind}): partial objects grow, done carries the validated object`, async () => {
      const { events, error } = await collect(stack.rt.stream(cityRequest(kind)));
      assert.equal(error, undefined);
      const partials = events.filter((e): e is Extract<StreamEvent, { type: 'object' }> => e.type === 'object');
      assert.ok(partials.length > 2, `partial objects as the JSON grew (got ${partials.length})`);
      assert.equal(typeof partials[0]!.object, 'object');
      const done = events.at(-1)!;
      assert.equal(done.type, 'done');
      assert.deepEqual(done.type === 'done' && done.result.object, { city: QUESTION, population: 1, capital: true });
      const text = events.map((e) => (e.type === 'text' ? e.text : '')).join('');
      assert.equal(done.type === 'done' && done.result.content, text, 'the text events still concatenate to the content');
    });

    test(`{ type: 'json' } (${kind}) asks for JSON without a schema`, async () => {
      const result = await stack.rt.chat(ask(QUESTION, { provider: kind, responseFormat: { type: 'json' } }));
      assert.equal(typeof result.object, 'object');
      const body = lastBody(kind);
      if (kind === 'openai') assert.deepEqual(body.response_format, { type: 'json_object' });
      if (kind === 'ollama') assert.equal(body.format, 'json');
      if (kind === 'anthropic') assert.deepEqual(body.tool_choice, { type: 'tool', name: 'response' });
    });

    test(`a reply that is not JSON (${kind}) is INVALID_OUTPUT carrying the text, in chat and stream`, async () => {
      stack.server.setOptions({ invalidJson: true });
      try {
        const err = await rejectsWith(stack.rt.chat(cityRequest(kind)), 'INVALID_OUTPUT');
        assert.ok(err instanceof InvalidOutputError);
        assert.match(err.text, /not JSON/);
        assert.equal(err.issues.length, 1);
        assert.equal(err.provider, kind);
        const { error } = await collect(stack.rt.stream(cityRequest(kind)));
        assert.ok(error instanceof InvalidOutputError && error.code === 'INVALID_OUTPUT');
      } finally {
        stack.server.setOptions({ invalidJson: false });
      }
    });
  }

  test('anthropic structuredOutput "tool": a forced tool whose input is the object, returned as content and object', async () => {
    const result = await stack.rt.chat(cityRequest('anthropic-tool'));
    const body = lastBody('anthropic');
    assert.deepEqual(body.tool_choice, { type: 'tool', name: 'city_facts' });
    assert.deepEqual((body.tools as { name: string; input_schema: unknown }[]).at(-1), {
      name: 'city_facts',
      description: 'Give your answer as the input of this tool.',
      input_schema: CITY,
    });
    assert.equal(result.toolCalls, undefined, 'the forced call is the answer, not a tool to run');
    const plain = await stack.rt.chat(ask(QUESTION, { provider: 'anthropic-tool' }));
    assert.equal(result.finishReason, plain.finishReason, 'the finish reason of a reply that answered, not of a tool call');
    assert.deepEqual(result.object, { city: QUESTION, population: 1, capital: true });
    const { events, error } = await collect(stack.rt.stream(cityRequest('anthropic-tool')));
    assert.equal(error, undefined);
    assert.equal(events.some((e) => e.type === 'tool_call'), false);
    assert.ok(events.some((e) => e.type === 'object'));
    const done = events.at(-1)!;
    assert.deepEqual(done.type === 'done' && done.result.object, { city: QUESTION, population: 1, capital: true });
  });

  test('a reply that does not fit the schema is INVALID_OUTPUT with its issues (JSON Pointer paths)', async () => {
    const schema = { ...CITY, properties: { ...CITY.properties, city: { type: 'string', minLength: 200 } } };
    const err = await rejectsWith(stack.rt.chat(ask(QUESTION, { provider: 'openai', responseFormat: { type: 'json-schema', schema } })), 'INVALID_OUTPUT');
    assert.ok(err instanceof InvalidOutputError);
    assert.deepEqual(err.issues.map((i) => i.path), ['/city']);
    assert.deepEqual(JSON.parse(err.text), { city: QUESTION, population: 1, capital: true });
  });

  test('Standard Schema: zod 4, valibot and arktype are converted on the host and validate the reply', async () => {
    const zodCity = z.object({ city: z.string(), population: z.number().int(), capital: z.boolean() }).transform((c) => ({ ...c, shout: c.city.toUpperCase() }));
    const zodResult = await stack.rt.chat({ ...ask(QUESTION, { provider: 'openai' }), responseFormat: { type: 'json-schema', schema: zodCity } });
    const typed: { shout: string; population: number } = zodResult.object; // compile-time: the object is typed by the schema
    assert.equal(typed.population, 1);
    assert.deepEqual(zodResult.object, { city: QUESTION, population: 1, capital: true, shout: QUESTION.toUpperCase() }, "the schema's own output value");
    const sent = (lastBody('openai').response_format as { json_schema: { schema: Record<string, unknown> } }).json_schema.schema;
    assert.deepEqual(sent.required, ['city', 'population', 'capital'], 'the JSON Schema zod made crossed to the server');

    const valibotCity = toStandardJsonSchema(v.object({ city: v.string(), population: v.number(), capital: v.boolean() }));
    const valibotResult = await stack.rt.chat(ask(QUESTION, { provider: 'anthropic', responseFormat: { type: 'json-schema', schema: valibotCity } }));
    assert.deepEqual(valibotResult.object, { city: QUESTION, population: 1, capital: true });

    const arkCity = type({ city: 'string', population: 'number', capital: 'boolean' });
    const arkResult = await stack.rt.chat(ask(QUESTION, { provider: 'ollama', responseFormat: { type: 'json-schema', schema: arkCity } }));
    assert.deepEqual(arkResult.object, { city: QUESTION, population: 1, capital: true });

    const strict = z.object({ city: z.string().min(200) });
    const err = await rejectsWith(stack.rt.chat(ask(QUESTION, { provider: 'openai', responseFormat: { type: 'json-schema', schema: strict } })), 'INVALID_OUTPUT');
    assert.equal((err as InvalidOutputError).issues[0]!.path, '/city');
  });

  test('leaving a structured stream early cancels its call', async () => {
    stack.server.injectFault({ kind: 'stall', afterTokens: 8 });
    let partials = 0;
    // A deadline far past waitFor's guard: only the cancel can end this call in time.
    for await (const event of stack.rt.stream(cityRequest('openai'), { timeoutMs: 120_000 })) {
      if (event.type === 'object' && ++partials === 2) break;
    }
    assert.equal(partials, 2);
    await waitFor(async () => (await stack.rt.stats()).inFlight === 0, { what: 'the stalled call cancelled' });
  });

  test('bad formats are INVALID_REQUEST before any I/O', async () => {
    const before = stack.server.requests.length;
    const noConverter = { '~standard': { version: 1, vendor: 'home-made', validate: (value: unknown) => ({ value }) } };
    const err = await rejectsWith(stack.rt.chat(ask('Hi', { responseFormat: { type: 'json-schema', schema: noConverter as never } })), 'INVALID_REQUEST');
    assert.match(err.message, /request\.responseFormat\.schema/);
    await rejectsWith(stack.rt.chat(ask('Hi', { responseFormat: { type: 'json-schema', schema: { type: 'no-such-type' } } })), 'INVALID_REQUEST');
    await rejectsWith(stack.rt.chat(ask('Hi', { responseFormat: { type: 'yaml' } as never })), 'INVALID_REQUEST');
    await rejectsWith(stack.rt.chat(ask('Hi', { responseFormat: { type: 'json', schema: CITY } as never })), 'INVALID_REQUEST');
    const thinking = await rejectsWith(stack.rt.chat(cityRequest('anthropic-tool', { reasoning: { effort: 'low' } })), 'INVALID_REQUEST');
    assert.match(thinking.message, /request\.responseFormat and request\.reasoning/);
    const { error } = await collect(stack.rt.stream(ask('Hi', { responseFormat: { type: 'json-schema', schema: noConverter as never } })));
    assert.equal((error as { code?: string }).code, 'INVALID_REQUEST');
    const uncompiled = await collect(stack.rt.stream(ask('Hi', { responseFormat: { type: 'json-schema', schema: { type: 'no-such-type' } } })));
    assert.equal((uncompiled.error as { code?: string }).code, 'INVALID_REQUEST');
    assert.match((uncompiled.error as Error).message, /request\.responseFormat\.schema is not a usable JSON Schema/);
    assert.equal(stack.server.requests.length, before, 'nothing was sent');
  });
});

test('importing parley loads neither ajv nor partial-json; the first structured request does', () => {
  // A fresh process: this one has used structured output above.
  const script = `
    const { createRequire } = await import('node:module');
    const parley = await import(${JSON.stringify(codeUrl('src/index.ts'))});
    const { startModelServer } = await import(${JSON.stringify(codeUrl('src/testing/index.ts'))});
    const loaded = () => {
      const cache = Object.keys(createRequire(import.meta.url).cache);
      return { ajv: cache.some((p) => /[\\\\/]ajv[\\\\/]/.test(p)), partialJson: cache.some((p) => /[\\\\/]partial-json[\\\\/]/.test(p)) };
    };
    const atImport = loaded();
    const server = await startModelServer();
    const rt = await parley.createRuntime({ providers: { p: { kind: 'openai', baseUrl: server.url + '/v1' } }, maxRetries: 0 });
    const plain = await rt.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'Hi' }] });
    const afterPlain = loaded();
    const schema = ${JSON.stringify(CITY)};
    const events = [];
    for await (const event of rt.stream({ model: 'parley-echo', messages: [{ role: 'user', content: 'Paris' }], responseFormat: { type: 'json-schema', schema } })) events.push(event.type);
    const structured = await rt.chat({ model: 'parley-echo', messages: [{ role: 'user', content: 'Paris' }], responseFormat: { type: 'json-schema', schema } });
    console.log(JSON.stringify({ atImport, afterPlain, afterStructured: loaded(), plain: plain.content.length > 0, object: structured.object, objects: events.filter((t) => t === 'object').length }));
    await rt.shutdown();
    await server.close();
  `;
  // A file, not --eval: from dist/ a worker inherits the host's flags, and --input-type would stop it.
  const dir = mkdtempSync(join(tmpdir(), 'parley-lazy-load-'));
  let out: string;
  try {
    writeFileSync(join(dir, 'probe.mjs'), script);
    out = execFileSync(process.execPath, [...TS_LOADER, join(dir, 'probe.mjs')], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seen = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  assert.deepEqual(seen.atImport, { ajv: false, partialJson: false }, 'loaded with parley');
  assert.deepEqual(seen.afterPlain, { ajv: false, partialJson: false }, 'loaded by a chat without responseFormat');
  assert.deepEqual(seen.afterStructured, { ajv: true, partialJson: true });
  assert.equal(seen.plain, true);
  assert.deepEqual(seen.object, { city: 'Paris', population: 1, capital: true });
  assert.ok((seen.objects as number) > 0, 'the stream yielded partial objects');
});
