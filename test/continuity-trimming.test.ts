/**
 * A long conversation with maxContextTokens against the real server: each
 * request stays under the budget, keeps the system message and the newest
 * user message, and drops the oldest exchanges first, while the history
 * itself keeps everything. The provider's usage reports correct the estimate:
 * the server here counts one token per word, and the user messages are made
 * of short words, so the crude characters/4 estimate undercounts until the
 * calibration learns better, and then less is sent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRuntime, type ChatResult, type Message, type Runtime } from '../src/index.ts';
import { estimateTokens, trimToWindow, updateCalibration } from '../src/conversation/context-window.ts';
import { startModelServer, type ModelServer } from '../src/testing/index.ts';
import { lastSent, plain, type SentMessage } from './fixtures/continuity-support.ts';
import { testWorkers } from './helpers/workers-mode.ts';

const BUDGET = 600;
const TURNS = 40;
const SYSTEM = 'You are a patient assistant who answers every question about the weather.';

/** 80 one-letter words: 2 characters per real token, so the estimate is about half the real count. */
function userText(turn: number): string {
  return `turn ${turn}: ` + Array.from({ length: 80 }, (_, i) => 'abcdefghij'[(turn * 7 + i) % 10]).join(' ');
}

/** How the model server counts input tokens: one per whitespace-separated word. */
function serverCount(messages: readonly { content: string | unknown[] }[]): number {
  return messages.reduce((n, m) => n + (m.content as string).split(/\s+/).filter(Boolean).length, 0);
}

test('conversation with maxContextTokens: requests stay under the budget, drop oldest first, and usage calibrates the estimate', async (t) => {
  let server: ModelServer | undefined;
  let rt: Runtime | undefined;
  try {
    server = await startModelServer();
    rt = await createRuntime({ workers: testWorkers,
      providers: { ollama: { kind: 'ollama', baseUrl: server.url }, openai: { kind: 'openai', baseUrl: `${server.url}/v1` } },
      timeoutMs: 10_000,
    });
    const conversation = await rt.conversation({ model: 'parley-echo', system: SYSTEM, maxContextTokens: BUDGET, maxTokens: 10 });
    try {
      // The test's own model of the conversation's calibration, fed with the same usage reports.
      let calibration: number | undefined;
      let trimmedTurns = 0;
      let calibratedDiffers = 0;
      let maxRealTokens = 0;
      let realOverBudgetAfterCalibration = 0;
      let uncalibratedOverBudget = 0;
      for (let turn = 1; turn <= TURNS; turn++) {
        const text = userText(turn);
        const whole: SentMessage[] = [...plain(conversation.messages), { role: 'user', content: text }];
        let result: ChatResult | undefined;
        if (turn % 2) {
          conversation.setProvider('ollama');
          result = await conversation.send(text);
        } else {
          conversation.setProvider('openai');
          for await (const event of conversation.stream(text)) if (event.type === 'done') result = event.result;
        }
        assert.ok(result, `turn ${turn} completed`);
        const sent = lastSent(server);

        // System first, the newest user message last, and in between a suffix of the history that starts at a user message.
        assert.deepEqual(sent[0], { role: 'system', content: SYSTEM }, `turn ${turn}: the system message was dropped`);
        assert.deepEqual(sent.at(-1), { role: 'user', content: text }, `turn ${turn}: the newest user message was not last`);
        const kept = sent.slice(1);
        assert.deepEqual(kept, whole.slice(whole.length - kept.length), `turn ${turn}: not the newest messages, or not in order`);
        assert.equal(kept[0]!.role, 'user', `turn ${turn}: the kept history starts mid-exchange`);
        if (kept.length < whole.length - 1) trimmedTurns++;

        // Under the budget by the calibrated estimate, and exactly what calibrated trimming keeps.
        const ratio = calibration ?? 1;
        assert.ok(Math.ceil(estimateTokens(sent as Message[]) * ratio) <= BUDGET, `turn ${turn}: the request is over the budget`);
        const expected = trimToWindow(whole as Message[], { maxTokens: BUDGET, calibration: ratio }).messages;
        assert.deepEqual(sent, plain(expected), `turn ${turn}: not what calibrated trimming keeps`);
        const uncalibrated = trimToWindow(whole as Message[], { maxTokens: BUDGET, calibration: 1 }).messages;
        if (uncalibrated.length !== sent.length) calibratedDiffers++;
        if (serverCount(uncalibrated) > BUDGET) uncalibratedOverBudget++;

        const real = result.usage?.inputTokens;
        assert.ok(real !== undefined && real > 0, `turn ${turn}: ${result.provider} reported no input tokens`);
        maxRealTokens = Math.max(maxRealTokens, real);
        if (calibration !== undefined && turn > 5 && real > BUDGET) realOverBudgetAfterCalibration++;
        calibration = updateCalibration(calibration, estimateTokens(sent as Message[]), real);

        // Trimming shapes the request only: the history keeps every turn.
        assert.equal(conversation.messages.length, 1 + 2 * turn);
      }
      t.diagnostic(
        `turns=${TURNS} failures=0 budget=${BUDGET} trimmedTurns=${trimmedTurns} turnsWhereCalibrationChangedTheRequest=${calibratedDiffers} ` +
          `finalCalibration=${calibration?.toFixed(3)} maxRealInputTokens=${maxRealTokens} realOverBudgetAfterCalibration=${realOverBudgetAfterCalibration} ` +
          `turnsWhereUncalibratedTrimmingWouldOverflow=${uncalibratedOverBudget}`,
      );
      assert.ok(trimmedTurns >= TURNS / 2, `expected most turns to be trimmed, got ${trimmedTurns}`);
      assert.ok(calibration !== undefined && calibration > 1.2, `the usage reports should raise the calibration (got ${calibration})`);
      assert.ok(calibratedDiffers > 0, 'the calibration never changed what was sent');
      // Once calibrated, the server's own count stays under the budget too; without the correction it would not have.
      assert.equal(realOverBudgetAfterCalibration, 0);
      assert.ok(uncalibratedOverBudget > 0, 'the uncalibrated estimate should have overflowed the budget here');
    } finally {
      await conversation.close();
    }
  } finally {
    await rt?.shutdown({ graceMs: 500 });
    await server?.close();
  }
});
