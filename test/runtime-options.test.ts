/**
 * createRuntime() checks its options at the door: a bad one is CONFIG, and
 * the error names the option that was wrong (the contract of CONFIG).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRuntime, type RuntimeOptions } from '../src/index.ts';
import { rejectsWith } from './helpers/fixtures.ts';

describe('CONFIG: bad runtime options are rejected, naming the option', () => {
  const url = 'http://127.0.0.1:9';
  const base = { providers: { local: { kind: 'ollama', baseUrl: url } } } as RuntimeOptions;
  const cases: [string, unknown, string][] = [
    ['no options', undefined, 'options'],
    ['no providers', { providers: {} }, 'options.providers'],
    ['bad kind', { providers: { x: { kind: 'gemini' } } }, 'options.providers.x.kind'],
    ['openai without baseUrl', { providers: { x: { kind: 'openai' } } }, 'options.providers.x.baseUrl'],
    ['non-http baseUrl', { providers: { x: { kind: 'ollama', baseUrl: 'ftp://host' } } }, 'options.providers.x.baseUrl'],
    ['anthropic without apiKey', { providers: { x: { kind: 'anthropic' } } }, 'options.providers.x.apiKey'],
    ['empty apiKey', { providers: { x: { kind: 'ollama', apiKey: '' } } }, 'options.providers.x.apiKey'],
    ['non-string header', { providers: { x: { kind: 'ollama', headers: { a: 1 } } } }, 'options.providers.x.headers'],
    ['unknown defaultProvider', { ...base, defaultProvider: 'nope' }, 'options.defaultProvider'],
    ['negative timeoutMs', { ...base, timeoutMs: -1 }, 'options.timeoutMs'],
    ['fractional timeoutMs', { ...base, timeoutMs: 1.5 }, 'options.timeoutMs'],
    ['string maxRetries', { ...base, maxRetries: '2' }, 'options.maxRetries'],
    ['zero workers', { ...base, workers: 0 }, 'options.workers'],
    ['zero maxResponseBytes', { ...base, maxResponseBytes: 0 }, 'options.maxResponseBytes'],
    ['zero streamCredits', { ...base, streamCredits: 0 }, 'options.streamCredits'],
    ['zero connections', { ...base, connections: 0 }, 'options.connections'],
    ['negative restart.maxRestarts', { ...base, restart: { maxRestarts: -1 } }, 'options.restart.maxRestarts'],
    ['heartbeatTimeoutMs below the interval', { ...base, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 10 }, 'options.heartbeatTimeoutMs'],
    ['workerExecArgv not strings', { ...base, workerExecArgv: [1] }, 'options.workerExecArgv'],
    ['negative workerNice (raising priority needs privileges)', { ...base, workerNice: -5 }, 'options.workerNice'],
    ['workerNice past 19', { ...base, workerNice: 20 }, 'options.workerNice'],
  ];
  for (const [what, options, field] of cases) {
    test(`createRuntime() rejects ${what} with CONFIG naming ${field}`, async () => {
      const err = await rejectsWith(createRuntime(options as RuntimeOptions), 'CONFIG');
      assert.ok(err.message.includes(field), `"${err.message}" names ${field}`);
    });
  }
});
