// The request bodies `mqg serve` takes, checked field by field: a wrong type or an out-of-range
// value is a RequestError (HTTP 400) naming the field as OpenAI's `param`. Fields the server does
// not know are ignored, as OpenAI-compatible servers do; the few it knows but cannot honour
// (n > 1, logprobs, echo) are refused rather than silently dropped.

import { RequestError } from '../../util/errors';
import { parseMessages, type ChatMessage } from './chat';

/** How a completion is sampled (OpenAI's names in the request, ours here). */
export interface SamplingParams {
  /** Tokens to generate at most; undefined = up to the model's context. */
  maxTokens?: number;
  /** 0 = greedy. Default 1 (OpenAI's). */
  temperature: number;
  /** Nucleus threshold in (0, 1]. Default 1. */
  topP: number;
  /** Sampling seed; a random one when the request gives none (as OpenAI). */
  seed: number;
  /** Stop sequences: the text ends before the first one generated (not included). */
  stop: string[];
  /** Answer as server-sent events. */
  stream: boolean;
  /** With stream: a last chunk with `usage`. */
  includeUsage: boolean;
}

export interface CompletionRequest extends SamplingParams {
  prompt: string;
}

export interface ChatRequest extends SamplingParams {
  messages: ChatMessage[];
}

/** `POST /v1/mcq`: a question, its options and an optional passage or case it is asked about. */
export interface McqRequest {
  question: string;
  options: string[];
  context?: string;
}

type Body = Record<string, unknown>;

/** A parsed JSON body that must be an object. */
export function bodyObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RequestError('the request body must be a JSON object');
  return body as Body;
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? 'a string' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`);

/** A number field (null or absent = `def`), checked against [min, max] (`minExclusive`: min itself refused). */
function numberField(b: Body, name: string, def: number | undefined, o: { int?: boolean; min: number; max?: number; minExclusive?: boolean }): number | undefined {
  const v = b[name];
  if (v === undefined || v === null) return def;
  if (typeof v !== 'number' || !Number.isFinite(v) || (o.int && !Number.isSafeInteger(v))) throw new RequestError(`${name} must be ${o.int ? 'an integer' : 'a number'}; got ${typeName(v)}`, name);
  const low = o.minExclusive ? v <= o.min : v < o.min;
  if (low || (o.max !== undefined && v > o.max)) {
    const range = o.max === undefined ? `at least ${o.min}` : `in ${o.minExclusive ? '(' : '['}${o.min}, ${o.max}]`;
    throw new RequestError(`${name} must be ${range}; got ${v}`, name);
  }
  return v;
}

function booleanField(b: Body, name: string): boolean {
  const v = b[name];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new RequestError(`${name} must be true or false; got ${typeName(v)}`, name);
  return v;
}

function stringField(b: Body, name: string, required: boolean): string | undefined {
  const v = b[name];
  if (v === undefined || v === null) {
    if (required) throw new RequestError(`${name} is required`, name);
    return undefined;
  }
  if (typeof v !== 'string') throw new RequestError(`${name} must be a string; got ${typeName(v)}`, name);
  return v;
}

function stopField(b: Body): string[] {
  const v = b.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 4 || list.some((s) => typeof s !== 'string' || s === '')) {
    throw new RequestError('stop must be a non-empty string or an array of at most 4 of them', 'stop');
  }
  return list as string[];
}

/** What both generation endpoints take. */
function samplingParams(b: Body, maxTokensField: string[]): SamplingParams {
  if (b.model !== undefined && typeof b.model !== 'string') throw new RequestError(`model must be a string; got ${typeName(b.model)}`, 'model');
  if (numberField(b, 'n', 1, { int: true, min: 1 }) !== 1) throw new RequestError('n must be 1: one completion per request', 'n');
  if (b.logprobs !== undefined && b.logprobs !== null && b.logprobs !== false && b.logprobs !== 0) throw new RequestError('logprobs are not supported', 'logprobs');
  if (b.echo === true) throw new RequestError('echo is not supported', 'echo');
  let maxTokens: number | undefined;
  for (const f of maxTokensField) maxTokens ??= numberField(b, f, undefined, { int: true, min: 1 });
  const opts = b.stream_options;
  if (opts !== undefined && opts !== null && (typeof opts !== 'object' || Array.isArray(opts))) throw new RequestError(`stream_options must be an object; got ${typeName(opts)}`, 'stream_options');
  return {
    maxTokens,
    temperature: numberField(b, 'temperature', 1, { min: 0, max: 2 })!,
    topP: numberField(b, 'top_p', 1, { min: 0, max: 1, minExclusive: true })!,
    seed: numberField(b, 'seed', undefined, { int: true, min: Number.MIN_SAFE_INTEGER }) ?? Math.floor(Math.random() * 2 ** 32),
    stop: stopField(b),
    stream: booleanField(b, 'stream'),
    includeUsage: !!opts && booleanField(opts as Body, 'include_usage'),
  };
}

/** `POST /v1/completions`: `prompt` a string (or an array holding one string); max_tokens defaults to 16, as OpenAI's. */
export function parseCompletionRequest(body: unknown): CompletionRequest {
  const b = bodyObject(body);
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1) prompt = prompt[0];
  if (prompt === undefined || prompt === null) throw new RequestError('prompt is required', 'prompt');
  if (typeof prompt !== 'string') throw new RequestError('prompt must be a string (or an array of one string)', 'prompt');
  const p = samplingParams(b, ['max_tokens']);
  return { ...p, maxTokens: p.maxTokens ?? 16, prompt };
}

/** `POST /v1/chat/completions`: max_tokens (or max_completion_tokens) defaults to the rest of the context. */
export function parseChatRequest(body: unknown): ChatRequest {
  const b = bodyObject(body);
  if (b.messages === undefined) throw new RequestError('messages is required', 'messages');
  return { ...samplingParams(b, ['max_completion_tokens', 'max_tokens']), messages: parseMessages(b.messages) };
}

/** `POST /v1/mcq`: a non-empty question, 2 to 26 non-empty options, an optional context. */
export function parseMcqRequest(body: unknown): McqRequest {
  const b = bodyObject(body);
  const question = stringField(b, 'question', true)!;
  if (!question.trim()) throw new RequestError('question must not be empty', 'question');
  const options = b.options;
  if (options === undefined || options === null) throw new RequestError('options is required', 'options');
  if (!Array.isArray(options) || options.length < 2 || options.length > 26) throw new RequestError('options must be an array of 2 to 26 strings', 'options');
  options.forEach((o, i) => {
    if (typeof o !== 'string' || !o.trim()) throw new RequestError(`options[${i}] must be a non-empty string; got ${typeName(o)}`, `options[${i}]`);
  });
  const context = stringField(b, 'context', false);
  return context ? { question, options: options as string[], context } : { question, options: options as string[] };
}
