/** The official openai SDK, in process, as an application would use it. */
import OpenAI from 'openai';
import { toOpenAiMessages, type Workload } from '../workload.ts';
import type { Contender } from './contender.ts';

export function openaiSdk(): Contender {
  return {
    name: 'openai SDK',
    protocol: 'openai',
    async open(url) {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
      const params = (w: Workload) => ({ model: w.model, messages: toOpenAiMessages(w.messages) as any, max_tokens: w.maxTokens });
      return {
        async chat(w) {
          const reply = await client.chat.completions.create(params(w));
          return reply.choices[0]!.message.content ?? '';
        },
        async stream(w, onToken) {
          const stream = await client.chat.completions.create({ ...params(w), stream: true });
          let tokens = 0;
          for await (const chunk of stream) {
            const text = chunk.choices[0]?.delta?.content;
            if (text) {
              tokens++;
              onToken(text);
            }
          }
          return tokens;
        },
        async close() {},
      };
    },
  };
}
