/**
 * The floor of any Node client: one shared keep-alive undici Agent,
 * request(), and a hand-written parse (JSON.parse for a chat; a minimal line
 * splitter plus JSON.parse per SSE data line or NDJSON line for a stream).
 */
import { Agent, request } from 'undici';
import { ollamaBody, openAiBody, type Workload } from '../workload.ts';
import type { Client, Contender, Protocol } from './contender.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

interface Route {
  path: string;
  body(w: Workload, stream: boolean): string;
  text(reply: any): string;
  /** The text of one stream line, '' for none, null at the end marker. */
  line(line: string): string | null;
}

const ROUTES: Record<Protocol, Route> = {
  openai: {
    path: '/v1/chat/completions',
    body: openAiBody,
    text: (reply) => reply.choices[0].message.content,
    line(line) {
      if (!line.startsWith('data:')) return '';
      const data = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
      if (data === '[DONE]') return null;
      return JSON.parse(data).choices[0]?.delta?.content ?? '';
    },
  },
  ollama: {
    path: '/api/chat',
    body: ollamaBody,
    text: (reply) => reply.message.content,
    line(line) {
      if (line === '') return '';
      const msg = JSON.parse(line);
      return msg.done ? null : (msg.message?.content ?? '');
    },
  },
};

export function undiciRaw(protocol: Protocol, name = `undici ${protocol}`): Contender {
  const route = ROUTES[protocol];
  return {
    name,
    protocol,
    floor: true,
    async open(url): Promise<Client> {
      const agent = new Agent({ connections: 128, keepAliveTimeout: 4_000, pipelining: 1 });
      const target = url + route.path;
      const send = async (w: Workload, stream: boolean) => {
        const res = await request(target, { method: 'POST', headers: JSON_HEADERS, body: route.body(w, stream), dispatcher: agent });
        if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${await res.body.text()}`);
        return res.body;
      };
      return {
        async chat(w) {
          const body = await send(w, false);
          return route.text(JSON.parse(await body.text()));
        },
        async stream(w, onToken) {
          const body = await send(w, true);
          body.setEncoding('utf8');
          let tokens = 0;
          let rest = '';
          for await (const chunk of body as AsyncIterable<string>) {
            rest += chunk;
            let nl: number;
            while ((nl = rest.indexOf('\n')) >= 0) {
              const text = route.line(rest.slice(0, nl).trimEnd());
              rest = rest.slice(nl + 1);
              if (text === null) return tokens;
              if (text !== '') {
                tokens++;
                onToken(text);
              }
            }
          }
          throw new Error('stream ended without its end marker');
        },
        close: () => agent.close(),
      };
    },
  };
}
