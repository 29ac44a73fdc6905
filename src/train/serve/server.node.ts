// `mqg serve`'s HTTP side on node:http (Node's own parser; bodies through JSON.parse): the routes,
// the bearer-token check, JSON and server-sent-event answers, and cancellation: a response whose
// connection closes before it is finished aborts its request (out of the queue, or its generation
// stopped at the next token). The work itself is the engine's (engine.ts).

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CancelledError, RequestError } from '../../util/errors';
import type { ServeEngine } from './engine';
import { parseChatRequest, parseCompletionRequest, parseMcqRequest, type SamplingParams } from './requests';
import { chunkBody, completionBody, errorBody, mcqBody, modelEntry, usageChunk, type ResponseHead } from './responses';

/** Where and how to listen. */
export interface ServerOptions {
  /** Default 127.0.0.1: loopback only. */
  host?: string;
  /** Default 8080; 0 = any free port. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <apiKey>` (else 401). */
  apiKey?: string;
  /** Largest request body in bytes (default 1 MiB; larger: 413). */
  maxBodyBytes?: number;
}

/** A listening server: its base URL, and close() (stops listening, cancels what is in flight, waits for the GPU to be free). */
export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new RequestError(`the request body is over ${limit} bytes`, null, 413);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw new RequestError('the request body is empty: send a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RequestError(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** 401 unless the request carries the key as a bearer token (compared in constant time, never echoed). */
function authorize(req: IncomingMessage, apiKey: string | undefined): void {
  if (apiKey === undefined) return;
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) throw new RequestError('no API key: send it as the header "Authorization: Bearer <key>"', null, 401);
  const digest = (s: string) => createHash('sha256').update(s).digest();
  if (!timingSafeEqual(digest(m[1]!.trim()), digest(apiKey))) throw new RequestError('incorrect API key', null, 401);
}

/** Server-sent events, the header written when opened (so an error before that is still a plain JSON answer). */
function eventStream(res: ServerResponse) {
  const open = () => {
    if (!res.headersSent && !res.destroyed) res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' }).flushHeaders();
  };
  return {
    open,
    send(body: unknown) {
      if (res.destroyed) return; // the client went away: the generation stops at its next token
      open();
      res.write(`data: ${JSON.stringify(body)}\n\n`);
    },
    done() {
      open();
      res.end('data: [DONE]\n\n');
    },
  };
}

/** The two generation endpoints: parse, tokenise, complete, answer whole or as events. */
function generationRoute(engine: ServeEngine, chat: boolean, limit: number): Route {
  return async (req, res, signal) => {
    const body = await readJson(req, limit);
    let p: SamplingParams, prompt: number[];
    if (chat) {
      const r = parseChatRequest(body);
      [p, prompt] = [r, engine.encodeChat(r.messages)];
    } else {
      const r = parseCompletionRequest(body);
      [p, prompt] = [r, engine.encodePrompt(r.prompt)];
    }
    const head: ResponseHead = { id: `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: engine.modelId };
    const opts = { signal, chat, param: chat ? 'messages' : 'prompt' };
    if (!p.stream) return sendJson(res, 200, completionBody(head, await engine.complete(prompt, p, opts), chat));
    // the stream opens when the GPU takes the request (a chat stream's first chunk gives the role)
    const events = eventStream(res);
    const c = await engine.complete(prompt, p, {
      ...opts,
      onStart: () => (chat ? events.send(chunkBody(head, chat, '', null, true)) : events.open()),
      onText: (t) => events.send(chunkBody(head, chat, t, null)),
    });
    events.send(chunkBody(head, chat, '', c.finishReason));
    if (p.includeUsage) events.send(usageChunk(head, chat, c));
    events.done();
  };
}

function routes(engine: ServeEngine, limit: number): Record<string, Route> {
  const created = Math.floor(Date.now() / 1000);
  return {
    'GET /v1/models': async (_req, res) => sendJson(res, 200, { object: 'list', data: [modelEntry(engine.modelId, created)] }),
    [`GET /v1/models/${engine.modelId}`]: async (_req, res) => sendJson(res, 200, modelEntry(engine.modelId, created)),
    'POST /v1/completions': generationRoute(engine, false, limit),
    'POST /v1/chat/completions': generationRoute(engine, true, limit),
    'POST /v1/mcq': async (req, res, signal) => {
      const r = parseMcqRequest(await readJson(req, limit));
      sendJson(res, 200, mcqBody(engine.modelId, await engine.scoreMcq(r, signal)));
    },
  };
}

/** An error as the answer: JSON with its status, or, once a stream has begun, an error event and [DONE]. */
function sendError(res: ServerResponse, e: unknown): void {
  if (e instanceof CancelledError || res.destroyed) return;
  const { status, body } = errorBody(e);
  if (!res.headersSent) return sendJson(res, status, body, status === 401 ? { 'WWW-Authenticate': 'Bearer' } : status === 503 ? { 'Retry-After': '1' } : {});
  res.end(`data: ${JSON.stringify(body)}\n\ndata: [DONE]\n\n`);
}

/** Serve `engine` over HTTP; resolves once listening. */
export async function startServer(engine: ServeEngine, o: ServerOptions = {}): Promise<RunningServer> {
  const table = routes(engine, o.maxBodyBytes ?? 1 << 20);
  const inFlight = new Set<AbortController>();
  const server = createServer((req, res) => {
    const abort = new AbortController();
    inFlight.add(abort);
    res.on('close', () => {
      inFlight.delete(abort);
      if (!res.writableFinished) abort.abort();
    });
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const route = table[`${req.method} ${path}`];
    const known = Object.keys(table).some((k) => k.endsWith(` ${path}`));
    void (async () => {
      authorize(req, o.apiKey);
      if (!route) throw new RequestError(known ? `${req.method} is not allowed on ${path}` : `no such endpoint: ${req.method} ${path}`, null, known ? 405 : 404);
      await route(req, res, abort.signal);
    })().catch((e: unknown) => sendError(res, e));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, o.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const a of inFlight) a.abort();
      server.closeAllConnections();
      await Promise.all([closed, engine.queue.idle()]);
    },
  };
}
