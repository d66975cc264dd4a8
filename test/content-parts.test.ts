/**
 * Content parts (text, image, document) over real HTTP to the embedded model
 * server, whose reply says how many images and documents it saw and their
 * sizes: bytes given as a Uint8Array, an ArrayBuffer or base64 reach every
 * protocol in its own shape; the caller's bytes stay usable; the door refuses
 * what a provider cannot take; transcripts keep parts beside them.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRuntime, omitPartBytes, type ChatRequest, type ContentPart, type Message, type Runtime } from '../src/index.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { TEST_RUNTIME_DEFAULTS } from './helpers/fixtures.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const KINDS = ['ollama', 'openai', 'anthropic'] as const;

/** Bytes that start as a PNG does (the server checks the media type against them). */
function png(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes;
}

function pdf(size: number): Uint8Array {
  const bytes = new Uint8Array(size).fill(0x20);
  bytes.set(Buffer.from('%PDF-1.7\n'));
  return bytes;
}

describe(`content parts on every protocol (workers: ${testWorkers})`, { timeout: 60_000 }, () => {
  let server: ModelServer;
  let rt: Runtime;
  let dir: string;

  before(async () => {
    server = await startModelServer({ tools: 'never' });
    rt = await createRuntime({
      workers: testWorkers,
      providers: {
        ollama: { kind: 'ollama', baseUrl: server.url },
        openai: { kind: 'openai', baseUrl: `${server.url}/v1`, apiKey: 'sk-parts' },
        anthropic: { kind: 'anthropic', baseUrl: server.url, apiKey: 'sk-ant-parts' },
      },
      ...TEST_RUNTIME_DEFAULTS,
    });
    dir = await mkdtemp(join(tmpdir(), 'parley-parts-'));
  });

  after(async () => {
    await rt.shutdown({ graceMs: 1000 });
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (provider: string, content: ContentPart[]): ChatRequest => ({ provider, model: 'parley-echo', messages: [{ role: 'user', content }] });

  for (const kind of KINDS) {
    test(`${kind}: image bytes as Uint8Array, ArrayBuffer and base64 reach the server whole, in chat and stream; the caller's bytes stay usable`, async () => {
      const bytes = png(3000);
      const buffer = png(2000, 7).buffer;
      const base64 = Buffer.from(png(1000, 9)).toString('base64');
      const content: ContentPart[] = [
        { type: 'text', text: 'What is in these?' },
        { type: 'image', data: bytes, mediaType: 'image/png' },
        { type: 'image', data: buffer as ArrayBuffer, mediaType: 'image/png' },
        { type: 'image', data: base64, mediaType: 'image/png' },
      ];
      const result = await rt.chat(ask(kind, content));
      assert.match(result.content, /I see 3 images \(image\/png, 3000 bytes; image\/png, 2000 bytes; image\/png, 1000 bytes\)/);
      let streamed = '';
      for await (const event of rt.stream(ask(kind, content))) if (event.type === 'text') streamed += event.text;
      assert.equal(streamed, result.content);
      // Copied to the worker, never transferred: nothing was detached.
      assert.equal(bytes.byteLength, 3000);
      assert.equal(bytes[8], (8 * 31 + 1) & 0xff);
      assert.equal((buffer as ArrayBuffer).byteLength, 2000);
    });
  }

  for (const kind of ['openai', 'anthropic'] as const) {
    test(`${kind}: an image URL and a PDF document reach the server in the protocol's own shape`, async () => {
      const result = await rt.chat(
        ask(kind, [
          { type: 'text', text: 'Read this' },
          { type: 'image', url: 'https://example.com/cat.png' },
          { type: 'document', data: pdf(5000), mediaType: 'application/pdf', name: 'report.pdf' },
        ]),
      );
      assert.match(result.content, /1 image \(a URL image https:\/\/example\.com\/cat\.png\) and 1 document \(application\/pdf, 5000 bytes\)/);
    });
  }

  test('ollama: an image URL or a document is INVALID_REQUEST naming the part (Ollama takes image bytes only)', async () => {
    await assert.rejects(rt.chat(ask('ollama', [{ type: 'text', text: 'x' }, { type: 'image', url: 'https://example.com/cat.png' }])), {
      code: 'INVALID_REQUEST',
      message: /request\.messages\[0\]\.content\[1\]\.url: provider "ollama" \(ollama\) takes images as bytes only/,
    });
    await assert.rejects(rt.chat(ask('ollama', [{ type: 'document', data: pdf(100), mediaType: 'application/pdf' }])), {
      code: 'INVALID_REQUEST',
      message: /request\.messages\[0\]\.content\[0\] is a document: provider "ollama" \(ollama\) takes no document parts/,
    });
    // A data: URL is bytes: Ollama gets them.
    const dataUrl = `data:image/png;base64,${Buffer.from(png(500)).toString('base64')}`;
    assert.match((await rt.chat(ask('ollama', [{ type: 'text', text: 'x' }, { type: 'image', url: dataUrl }]))).content, /1 image \(image\/png, 500 bytes\)/);
  });

  test('the door refuses bad media types, oversize images, parts on the wrong role and unknown part types, naming the path', async () => {
    const refused = async (content: unknown, message: RegExp, role = 'user') =>
      assert.rejects(rt.chat({ provider: 'openai', model: 'parley-echo', messages: [{ role, content } as Message] }), { code: 'INVALID_REQUEST', message });
    await refused([{ type: 'image', data: png(10), mediaType: 'image/bmp' }], /request\.messages\[0\]\.content\[0\]\.mediaType must be one of image\/png, image\/jpeg, image\/gif, image\/webp/);
    await refused([{ type: 'image', data: png(10) }], /content\[0\]\.mediaType must be one of/);
    await refused([{ type: 'image', data: new Uint8Array(21 * 1024 * 1024), mediaType: 'image/png' }], /content\[0\]\.data must be at most 20\.0 MiB \(got 21\.0 MiB\)/);
    await refused([{ type: 'image', url: 'file:///etc/passwd' }], /content\[0\]\.url must be an http\(s\) or data: URL/);
    await refused([{ type: 'image', url: 'https://x/a.png', data: png(10), mediaType: 'image/png' }], /content\[0\] must be an image part with either url or data/);
    await refused([{ type: 'document', data: pdf(10), mediaType: 'text/html' }], /content\[0\]\.mediaType must be one of application\/pdf/);
    await refused([{ type: 'audio', data: 'AAAA' }], /content\[0\]\.type must be 'text', 'image' or 'document'/);
    await refused([{ type: 'image', data: 12, mediaType: 'image/png' }], /content\[0\]\.data must be a Uint8Array, an ArrayBuffer or a base64 string/);
    await refused([{ type: 'image', data: 'data:image/png;base64,AAAA', mediaType: 'image/png' }], /content\[0\]\.data must be base64 without a data: prefix/);
    await refused([{ type: 'image', data: '@@@not base64!!', mediaType: 'image/png' }], /content\[0\]\.data must be standard base64/);
    await refused([{ type: 'image', data: 'iVBORw0KGgo', mediaType: 'image/png' }], /content\[0\]\.data must be standard base64/);
    await refused([], /request\.messages\[0\]\.content must be a string or a non-empty array of content parts/);
    await refused([{ type: 'image', data: png(10), mediaType: 'image/png' }], /content\[0\] must be a text part: image parts go on user messages/, 'assistant');
  });

  test('the model server answers 400 when the bytes are not the declared media type, as Anthropic does', async () => {
    await assert.rejects(rt.chat(ask('anthropic', [{ type: 'image', data: png(100), mediaType: 'image/jpeg' }])), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'HTTP');
      assert.equal(err.status, 400);
      assert.match(err.message, /Image does not match the provided media type image\/jpeg/);
      return true;
    });
  });

  test('a conversation keeps parts: its transcript holds a content-addressed reference, the bytes live beside it, and a resume reads them back', async () => {
    const store = join(dir, 'parts.jsonl');
    const image = png(4096, 3);
    const c = await rt.conversation({ provider: 'anthropic', model: 'parley-echo', store });
    const first = await c.send([{ type: 'text', text: 'Look' }, { type: 'image', data: image, mediaType: 'image/png' }]);
    assert.match(first.content, /1 image \(image\/png, 4096 bytes\)/);
    await c.send([{ type: 'text', text: 'Again' }, { type: 'image', data: image, mediaType: 'image/png' }]);
    await c.close();

    const lines = (await readFile(store, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines[0]!.version, 2);
    const stored = (lines[1]!.messages as { content: Record<string, unknown>[] }[])[0]!.content[1]!;
    assert.equal(stored.data, undefined, 'no bytes inline');
    const ref = stored.dataRef as { sha256: string; bytes: number };
    assert.equal(ref.bytes, 4096);
    assert.deepEqual(await readdir(`${store}.parts`), [ref.sha256], 'the same image sent twice is stored once');
    assert.ok((await readFile(store)).length < 2000, 'the transcript stays small');

    const resumed = await rt.conversation({ provider: 'anthropic', model: 'parley-echo', store });
    const part = resumed.messages[0]!.content[1] as ContentPart & { type: 'image' };
    assert.ok(part.data instanceof Uint8Array);
    assert.deepEqual(Buffer.from(part.data), Buffer.from(image));
    // The history goes back with its image, which the server decodes again.
    assert.equal((await resumed.send('And now?')).finishReason, 'stop');
    const sent = server.requests.filter((r) => r.path === '/v1/messages').at(-1)!.body as { messages: { content: unknown }[] };
    assert.deepEqual((sent.messages[0]!.content as Record<string, unknown>[])[1]!.source, {
      type: 'base64',
      media_type: 'image/png',
      data: Buffer.from(image).toString('base64'),
    });
    await resumed.close();
  });

  test('conversation.stream() takes parts; a turn whose part the door refuses fails with INVALID_REQUEST and records nothing', async () => {
    const c = await rt.conversation({ provider: 'ollama', model: 'parley-echo' });
    let text = '';
    for await (const event of c.stream([{ type: 'text', text: 'See' }, { type: 'image', data: png(700), mediaType: 'image/png' }])) if (event.type === 'text') text += event.text;
    assert.match(text, /1 image \(image\/png, 700 bytes\)/);
    assert.equal(c.messages.length, 2);
    await assert.rejects(c.send([{ type: 'text', text: 'Read' }, { type: 'document', data: pdf(10), mediaType: 'application/pdf' }]), {
      code: 'INVALID_REQUEST',
      message: /request\.messages\[2\]\.content\[1\] is a document: provider "ollama" \(ollama\) takes no document parts/,
    });
    assert.equal(c.messages.length, 2, 'the refused turn is not recorded');
    await c.close();
  });

  test('omitPartBytes shows bytes as their size when messages are logged or recorded (OpenTelemetry content, /save)', () => {
    const message: Message = {
      role: 'user',
      content: [
        { type: 'text', text: 'hi' },
        { type: 'image', data: png(5000), mediaType: 'image/png' },
        { type: 'image', data: 'QUJD', mediaType: 'image/png' },
      ],
    };
    assert.equal(
      JSON.stringify(message, omitPartBytes),
      '{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image","data":"[5000 bytes]","mediaType":"image/png"},{"type":"image","data":"[base64, 4 chars]","mediaType":"image/png"}]}',
    );
  });

  test('a version 1 transcript (text only) is still read', async () => {
    const store = join(dir, 'v1.jsonl');
    await writeFile(
      store,
      `${JSON.stringify({ type: 'header', version: 1, created: '2026-01-01T00:00:00.000Z', model: 'parley-echo' })}\n${JSON.stringify({
        type: 'turn',
        messages: [
          { role: 'user', content: 'old question' },
          { role: 'assistant', content: 'old answer' },
        ],
      })}\n`,
    );
    const c = await rt.conversation({ provider: 'openai', model: 'parley-echo', store });
    assert.deepEqual(c.messages.map((m) => m.content), ['old question', 'old answer']);
    assert.equal((await c.send('new question')).finishReason, 'stop');
    await c.close();
  });
});
