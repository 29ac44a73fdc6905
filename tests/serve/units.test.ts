// The parts of `mqg serve` that need no GPU: the text stream (UTF-8 pieces and stop sequences held
// back until they are decided), request checking (OpenAI's param names in the errors), the chat
// template, and the GPU queue (first in, first out, bounded, cancellable).
import { describe, expect, it } from 'vitest';
import { TextStream } from '../../src/train/serve/text-stream';
import { parseChatRequest, parseCompletionRequest, parseMcqRequest } from '../../src/train/serve/requests';
import { renderChat } from '../../src/train/serve/chat';
import { GpuQueue } from '../../src/train/serve/queue';
import { CancelledError, RequestError } from '../../src/util/errors';

/** A decoder whose token i is the i-th piece. */
const pieces = (ps: string[]) => (ids: number[]) => ids.map((i) => ps[i]).join('');

function run(ps: string[], stops: string[], trim = false): { deltas: string[]; text: string; stopped: boolean } {
  const s = new TextStream(pieces(ps), stops, trim);
  const deltas: string[] = [];
  for (let i = 0; i < ps.length && !s.stopped; i++) deltas.push(s.push(i));
  deltas.push(s.end());
  return { deltas, text: s.text, stopped: s.stopped };
}

describe('TextStream', () => {
  it('releases text as it comes, and all of it at the end', () => {
    const r = run(['Hello', ' wor', 'ld'], []);
    expect(r.deltas).toEqual(['Hello', ' wor', 'ld', '']);
    expect(r.text).toBe('Hello world');
  });

  it('holds back what may start a stop sequence, cuts the text before a completed one', () => {
    const r = run(['a b', '\nU', 'se', 'r: x', 'y'], ['\nUser:']);
    expect(r.deltas).toEqual(['a b', '', '', '', '']);
    expect(r.text).toBe('a b');
    expect(r.stopped).toBe(true);
    // a false start is released once it is decided
    const f = run(['a', '\nU', 'nder'], ['\nUser:']);
    expect(f.deltas).toEqual(['a', '', '\nUnder', '']);
    expect(f.stopped).toBe(false);
    // the earliest of several stop sequences wins, inside one token too
    expect(run(['xx END yy STOP'], ['STOP', 'END']).text).toBe('xx ');
  });

  it('keeps an unfinished UTF-8 character back, and drops leading whitespace for chat', () => {
    const r = run(['caf', '\uFFFD', 'é!'], []);
    // piece 1 decodes to U+FFFD (half a character) until piece 2 completes it: nothing released meanwhile
    expect(r.deltas.slice(0, 2)).toEqual(['caf', '']);
    const t = run([' ', ' Hi', ' there'], [], true);
    expect(t.deltas).toEqual(['', 'Hi', ' there', '']);
  });
});

const err = (f: () => unknown): RequestError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RequestError);
    return e as RequestError;
  }
  throw new Error('no error');
};

describe('request checking', () => {
  it('takes OpenAI completion fields with their defaults', () => {
    const r = parseCompletionRequest({ model: 'x', prompt: 'Hi', temperature: 0, stop: 'END', stream: true, stream_options: { include_usage: true }, seed: 3, unknown_field: 1 });
    expect(r).toMatchObject({ prompt: 'Hi', maxTokens: 16, temperature: 0, topP: 1, seed: 3, stop: ['END'], stream: true, includeUsage: true });
    expect(parseCompletionRequest({ prompt: ['one'] }).prompt).toBe('one');
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'q' }], max_completion_tokens: 5 }).maxTokens).toBe(5);
    expect(parseChatRequest({ messages: [{ role: 'user', content: 'q' }] }).maxTokens).toBeUndefined();
  });

  it('refuses wrong types and out-of-range values, naming the field', () => {
    const cases: [unknown, string | null, RegExp][] = [
      [[1, 2], null, /must be a JSON object/],
      [{}, 'prompt', /prompt is required/],
      [{ prompt: 5 }, 'prompt', /must be a string/],
      [{ prompt: 'x', max_tokens: 'ten' }, 'max_tokens', /must be an integer; got a string/],
      [{ prompt: 'x', max_tokens: 0 }, 'max_tokens', /at least 1/],
      [{ prompt: 'x', max_tokens: 1.5 }, 'max_tokens', /integer/],
      [{ prompt: 'x', temperature: 3 }, 'temperature', /in \[0, 2\]; got 3/],
      [{ prompt: 'x', top_p: 0 }, 'top_p', /in \(0, 1\]/],
      [{ prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/],
      [{ prompt: 'x', stop: [''] }, 'stop', /non-empty/],
      [{ prompt: 'x', stream: 'yes' }, 'stream', /true or false/],
      [{ prompt: 'x', n: 2 }, 'n', /must be 1/],
      [{ prompt: 'x', logprobs: 3 }, 'logprobs', /not supported/],
      [{ prompt: 'x', seed: 'a' }, 'seed', /integer/],
    ];
    for (const [body, param, message] of cases) {
      const e = err(() => parseCompletionRequest(body));
      expect([e.param, e.status, e.type], JSON.stringify(body)).toEqual([param, 400, 'invalid_request_error']);
      expect(e.message).toMatch(message);
    }
    expect(err(() => parseChatRequest({ messages: [] })).param).toBe('messages');
    expect(err(() => parseChatRequest({ messages: [{ role: 'tool', content: 'x' }] })).param).toBe('messages[0].role');
    expect(err(() => parseChatRequest({ messages: [{ role: 'user', content: [{ type: 'image_url' }] }] })).param).toBe('messages[0].content[0]');
    expect(err(() => parseMcqRequest({ question: 'q', options: ['a'] })).param).toBe('options');
    expect(err(() => parseMcqRequest({ question: '', options: ['a', 'b'] })).param).toBe('question');
    expect(err(() => parseMcqRequest({ question: 'q', options: ['a', 3] })).param).toBe('options[1]');
    expect(err(() => parseMcqRequest({ question: 'q', options: ['a', 'b'], context: 1 })).param).toBe('context');
  });
});

describe('the chat template', () => {
  it('labels each turn and ends with the assistant\'s label; developer messages are system ones', () => {
    const r = parseChatRequest({ messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Q?' }] }, { role: 'assistant', content: 'A.' }, { role: 'user', content: 'More?' }] });
    expect(renderChat(r.messages)).toBe('System: Be brief.\n\nUser: Q?\n\nAssistant: A.\n\nUser: More?\n\nAssistant:');
  });
});

describe('GpuQueue', () => {
  it('runs one job at a time in arrival order, refuses past maxQueue with 503, and lets a cancelled job leave', async () => {
    const q = new GpuQueue(2);
    const order: string[] = [];
    let release!: () => void;
    const first = q.run(() => new Promise<void>((r) => (release = r)).then(() => void order.push('first')));
    const cancel = new AbortController();
    const second = q.run(async () => void order.push('second'), cancel.signal);
    const third = q.run(async () => void order.push('third'));
    expect(q.waitingCount).toBe(2);
    const e = await q.run(async () => 0).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RequestError);
    expect((e as RequestError).status).toBe(503);
    cancel.abort();
    await expect(second).rejects.toBeInstanceOf(CancelledError);
    expect(q.waitingCount).toBe(1);
    release();
    await Promise.all([first, third]);
    expect(order).toEqual(['first', 'third']);
    expect(q.busy).toBe(false);
  });
});
