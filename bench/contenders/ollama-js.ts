/** ollama-js, the official Ollama client, in process. */
import { Ollama } from 'ollama';
import { toOllamaMessages, type Workload } from '../workload.ts';
import type { Contender } from './contender.ts';

export function ollamaJs(): Contender {
  return {
    name: 'ollama-js',
    protocol: 'ollama',
    async open(url) {
      const client = new Ollama({ host: url });
      const params = (w: Workload) => ({ model: w.model, messages: toOllamaMessages(w.messages) as any, options: { num_predict: w.maxTokens } });
      return {
        async chat(w) {
          const reply = await client.chat({ ...params(w), stream: false });
          return reply.message.content;
        },
        async stream(w, onToken) {
          let tokens = 0;
          for await (const part of await client.chat({ ...params(w), stream: true })) {
            if (part.message?.content) {
              tokens++;
              onToken(part.message.content);
            }
          }
          return tokens;
        },
        async close() {
          client.abort();
        },
      };
    },
  };
}
