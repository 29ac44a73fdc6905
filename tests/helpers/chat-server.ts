// A scripted OpenAI-compatible chat-completions server on loopback (node:http, port 0), for the
// tests of `mqg questions`. Each request's prompt carries a marker [[name]]; the script decides, from
// the marker and how many times it was asked, what the server does: reply with a content, answer
// with a status (and headers), wait first, drop the connection, or hang until the server closes.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Action =
  | { content: string }
  | { status: number; headers?: Record<string, string>; body?: string }
  | { delayMs: number; then: Action }
  | { drop: true }
  | { hang: true };

export interface Call {
  marker: string;
  /** 1 for the first request of this marker. */
  attempt: number;
  authorization: string | undefined;
  /** ms since the server started. */
  at: number;
  body: { model?: string; messages?: { role: string; content: string }[]; temperature?: number; max_tokens?: number };
}

export const USAGE = { prompt_tokens: 100, completion_tokens: 40, total_tokens: 140 };

export interface ChatServer {
  /** The base URL, http://127.0.0.1:PORT/v1. */
  url: string;
  calls: Call[];
  close(): Promise<void>;
}

export async function startChatServer(script: (call: Call) => Action): Promise<ChatServer> {
  const calls: Call[] = [];
  const attempts = new Map<string, number>();
  const t0 = Date.now();
  const act = async (a: Action, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if ('delayMs' in a) {
      await new Promise((done) => setTimeout(done, a.delayMs));
      if (!req.socket.destroyed) await act(a.then, req, res);
    } else if ('drop' in a) req.socket.destroy();
    else if ('hang' in a) return;
    else if ('status' in a) res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body ?? JSON.stringify({ error: { message: `status ${a.status}` } }));
    else {
      const reply = { id: 'chatcmpl-test', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: a.content }, finish_reason: 'stop' }], usage: USAGE };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    }
  };
  const server = createServer((req, res) => {
    let data = '';
    req.on('data', (d: Buffer) => (data += d.toString()));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end('{"error":{"message":"not found"}}');
      const body = JSON.parse(data) as Call['body'];
      const marker = /\[\[(\w+)\]\]/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? '';
      const attempt = (attempts.get(marker) ?? 0) + 1;
      attempts.set(marker, attempt);
      const call: Call = { marker, attempt, authorization: req.headers.authorization, at: Date.now() - t0, body };
      calls.push(call);
      void act(script(call), req, res);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    calls,
    close: () => new Promise((done) => (server.closeAllConnections(), server.close(() => done()))),
  };
}
