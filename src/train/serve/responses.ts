// The response bodies of `mqg serve`, shaped as OpenAI's (completions, chat completions and their
// server-sent chunks, models, errors), and the multiple-choice endpoint's own.

import { RequestError } from '../../util/errors';
import type { Completion, McqResult } from './engine';

/** What every generation response repeats: its id, creation time and model. */
export interface ResponseHead {
  id: string;
  created: number;
  model: string;
}

export function usage(c: Pick<Completion, 'promptTokens' | 'completionTokens'>) {
  return { prompt_tokens: c.promptTokens, completion_tokens: c.completionTokens, total_tokens: c.promptTokens + c.completionTokens };
}

/** A whole completion (`stream: false`). */
export function completionBody(h: ResponseHead, c: Completion, chat: boolean) {
  const choice = chat
    ? { index: 0, message: { role: 'assistant', content: c.text }, logprobs: null, finish_reason: c.finishReason }
    : { index: 0, text: c.text, logprobs: null, finish_reason: c.finishReason };
  return { ...h, object: chat ? 'chat.completion' : 'text_completion', choices: [choice], usage: usage(c) };
}

/**
 * One server-sent chunk: a text delta (finish null), or the last one with the finish reason and an
 * empty delta. A chat stream's first chunk gives the role (`role: true`).
 */
export function chunkBody(h: ResponseHead, chat: boolean, text: string, finish: Completion['finishReason'] | null, role = false) {
  const delta = role ? { role: 'assistant', content: text } : finish ? {} : { content: text };
  const choice = chat ? { index: 0, delta, logprobs: null, finish_reason: finish } : { index: 0, text, logprobs: null, finish_reason: finish };
  return { ...h, object: chat ? 'chat.completion.chunk' : 'text_completion', choices: [choice] };
}

/** A stream's usage chunk (`stream_options.include_usage`): no choices. */
export function usageChunk(h: ResponseHead, chat: boolean, c: Completion) {
  return { ...h, object: chat ? 'chat.completion.chunk' : 'text_completion', choices: [], usage: usage(c) };
}

/** `GET /v1/models`'s entry for the model served. */
export function modelEntry(id: string, created: number) {
  return { id, object: 'model', created, owned_by: 'mqg' };
}

/** `POST /v1/mcq`'s answer. */
export function mcqBody(model: string, r: McqResult) {
  const { promptTokens, ...rest } = r;
  return { object: 'mcq', model, ...rest, usage: { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens } };
}

/** OpenAI's error object, with the HTTP status it goes with. */
export function errorBody(e: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string | null } } } {
  if (e instanceof RequestError) {
    const code = e.status === 401 ? 'invalid_api_key' : e.status === 503 ? 'server_busy' : null;
    return { status: e.status, body: { error: { message: e.message, type: e.type, param: e.param, code } } };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { status: 500, body: { error: { message: `internal error: ${message}`, type: 'server_error', param: null, code: null } } };
}
