// An OpenAI-compatible chat-completions client (OpenAI, vLLM, llama.cpp's server, Ollama, `mqg
// serve`): one user message per request, the key as a bearer token. Network errors, timeouts, 429
// and 5xx are retried with exponential backoff (backoff * 2^attempt, with jitter), or after the
// server's Retry-After (seconds or an HTTP date) when it sends one; any other status ends the run
// (a wrong key, model or URL fails every request alike). The key never appears in an error message:
// every text that leaves this module is scrubbed of it.

import { EndpointError } from '../../util/errors';

export interface ChatOptions {
  /** The API's base URL (`http://host:8080/v1`) or its full chat-completions URL. */
  endpoint: string;
  model: string;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string;
  /** Per request (each attempt), in milliseconds. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** The first retry's delay in milliseconds; each next one doubles. */
  backoffMs: number;
  temperature?: number;
  maxTokens?: number;
  /** Stops waiting and retrying (Ctrl-C). */
  signal?: AbortSignal;
  /** Told about each retry, before its wait. */
  onRetry?: (info: { attempt: number; reason: string; waitMs: number }) => void;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface ChatReply {
  content: string;
  usage: Usage;
  /** Requests sent for this reply (1 without retries). */
  attempts: number;
}

/** The chat-completions URL of an endpoint: as given when it ends with /chat/completions, else with it appended. */
export function chatUrl(endpoint: string): string {
  const e = endpoint.replace(/\/+$/, '');
  return /\/chat\/completions$/.test(e) ? e : `${e}/chat/completions`;
}

/** An endpoint as it may be shown and recorded: without user, password, query or fragment. */
export function shownEndpoint(endpoint: string): string {
  try {
    const u = new URL(endpoint);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<not a URL>';
  }
}

/** `text` with every occurrence of `secret` replaced by "***". */
export function redact(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or undefined. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(header)) return Number(header) * 1000;
  const t = Date.parse(header);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done, fail) => {
    if (signal?.aborted) return fail(signal.reason);
    const t = setTimeout(() => (signal?.removeEventListener('abort', stop), done()), ms);
    const stop = () => (clearTimeout(t), fail(signal!.reason));
    signal?.addEventListener('abort', stop, { once: true });
  });
}

const MAX_WAIT_MS = 300_000;

type Attempt = { reply: ChatReply } | { retry: string; waitMs?: number };

async function attempt(o: ChatOptions, body: string): Promise<Attempt> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  let res: Response, text: string;
  try {
    res = await fetch(chatUrl(o.endpoint), { method: 'POST', headers, body, signal });
    text = await res.text();
  } catch (e) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (timeout.aborted) return { retry: `no reply within --timeout ${o.timeoutMs / 1000} s` };
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { retry: `network error (${cause?.code ?? cause?.message ?? (e as Error).message})` };
  }
  if (res.status === 429 || res.status >= 500) {
    return { retry: `HTTP ${res.status}`, waitMs: retryAfterMs(res.headers.get('retry-after')) };
  }
  if (!res.ok) {
    let message = text.slice(0, 300);
    try {
      message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? message;
    } catch {
      // not JSON: the text as it came
    }
    throw new EndpointError(`${shownEndpoint(chatUrl(o.endpoint))}: HTTP ${res.status} (${message.trim()})`, true);
  }
  let json: { choices?: { message?: { content?: unknown } }[]; usage?: Record<string, unknown> };
  try {
    json = JSON.parse(text);
  } catch {
    return { retry: 'the response is not JSON' };
  }
  const content = json.choices?.[0]?.message?.content;
  if (typeof content !== 'string') return { retry: 'the response has no choices[0].message.content' };
  const n = (k: string) => (typeof json.usage?.[k] === 'number' ? (json.usage[k] as number) : 0);
  return { reply: { content, usage: { promptTokens: n('prompt_tokens'), completionTokens: n('completion_tokens'), totalTokens: n('total_tokens') }, attempts: 1 } };
}

/** One chat completion of `prompt`, retried as the header says. Throws EndpointError when it gives up. */
export async function chatCompletion(o: ChatOptions, prompt: string): Promise<ChatReply> {
  const body = JSON.stringify({
    model: o.model, messages: [{ role: 'user', content: prompt }],
    ...(o.temperature !== undefined ? { temperature: o.temperature } : {}), ...(o.maxTokens ? { max_tokens: o.maxTokens } : {}),
  });
  for (let i = 0; ; i++) {
    let r: Attempt;
    try {
      r = await attempt(o, body);
    } catch (e) {
      if (e instanceof EndpointError) throw new EndpointError(redact(e.message, o.apiKey), e.refused);
      throw e;
    }
    if ('reply' in r) return { ...r.reply, attempts: i + 1 };
    const reason = redact(r.retry, o.apiKey);
    if (i >= o.retries) throw new EndpointError(`${shownEndpoint(chatUrl(o.endpoint))}: ${reason}, after ${i + 1} attempts`);
    const waitMs = Math.min(MAX_WAIT_MS, r.waitMs ?? o.backoffMs * 2 ** i * (0.5 + Math.random() / 2));
    o.onRetry?.({ attempt: i + 1, reason, waitMs });
    await sleep(waitMs, o.signal);
  }
}
