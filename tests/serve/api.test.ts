// `mqg serve`'s API over real HTTP on loopback, the server started in-process on a tiny model:
// models, completions and chat (whole and streamed, equal to `generate`'s greedy output at
// temperature 0), stop sequences, multiple-choice scoring by log-likelihood and by the head, the
// 400 / 401 / 404 / 405 / 503 answers with OpenAI error objects, cancellation by a closed
// connection, and 8 concurrent clients answered while a bad request gets its 400.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GPUContext } from '../../src/gpu/context';
import { generate } from '../../src/model/generate';
import { scoreQuestion } from '../../src/train/mcq-eval';
import { prepareItems, scoreByHead } from '../../src/train/finetune-mcq';
import { openServeEngine } from '../../src/train/serve/open.node';
import { startServer, type RunningServer } from '../../src/train/serve/server.node';
import type { ServeEngine } from '../../src/train/serve/engine';
import { getGPU } from '../helpers/gpu';
import { GOLDEN, HAVE_GOLDEN } from '../lora/golden-data';
import { loadAdaptedModel } from '../../src/model/lora.node';
import { loadModelAndSource } from '../../src/model/io.node';
import { saveTokenizer } from '../../src/train/tokenizer/load.node';
import { trainBpe } from '../../src/train/tokenizer/train';
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get, post, postStream, tinyCheckpoints, type TinyCheckpoints } from './fixture';

let gpu: GPUContext;
let ck: TinyCheckpoints;
const opened: { destroy(): void }[] = [];
const servers: RunningServer[] = [];

/** A server on a free loopback port for a checkpoint. */
async function serve(checkpoint: string, o: { maxQueue?: number; apiKey?: string } = {}): Promise<{ url: string; engine: ServeEngine }> {
  const e = await openServeEngine({ checkpoint, gpu, maxQueue: o.maxQueue ?? 32, modelId: 'tiny' });
  opened.push(e);
  const s = await startServer(e.engine, { port: 0, apiKey: o.apiKey });
  servers.push(s);
  return { url: s.url, engine: e.engine };
}

/** `generate`'s greedy continuation of a prompt, decoded: what `mqg sample --temperature 0` prints after the prompt. */
async function greedy(engine: ServeEngine, prompt: number[], maxNewTokens: number): Promise<string> {
  const eot = engine.tokenizer.eotToken;
  const ids = await generate(engine.model, prompt, { maxNewTokens, temperature: 0, stopToken: eot });
  return engine.tokenizer.decode(ids.filter((i) => i !== eot));
}

let url: string;
let engine: ServeEngine;

beforeAll(async () => {
  gpu = await getGPU('f32');
  ck = await tinyCheckpoints(gpu);
  ({ url, engine } = await serve(ck.plain));
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const o of opened) o.destroy();
});

describe('mqg serve: generation', () => {
  it('lists its model', async () => {
    const r = await get(`${url}/v1/models`);
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('list');
    expect(r.body.data.map((m: { id: string; object: string }) => [m.id, m.object])).toEqual([['tiny', 'model']]);
    expect((await get(`${url}/v1/models/tiny`)).body.id).toBe('tiny');
  });

  it('completes at temperature 0 as generate does greedily, whole and streamed', async () => {
    const prompt = 'The heart';
    const want = await greedy(engine, engine.encodePrompt(prompt), 12);
    expect(want.length).toBeGreaterThan(0);
    const r = await post(`${url}/v1/completions`, { model: 'tiny', prompt, max_tokens: 12, temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('text_completion');
    expect(r.body.model).toBe('tiny');
    expect(r.body.choices[0].text).toBe(want);
    expect(r.body.usage).toEqual({ prompt_tokens: engine.encodePrompt(prompt).length, completion_tokens: r.body.choices[0].finish_reason === 'length' ? 12 : expect.any(Number), total_tokens: expect.any(Number) });
    expect(r.body.usage.total_tokens).toBe(r.body.usage.prompt_tokens + r.body.usage.completion_tokens);
    const s = await postStream(`${url}/v1/completions`, { prompt, max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    expect(s.status).toBe(200);
    expect(s.type).toMatch(/^text\/event-stream/);
    expect(s.done).toBe(true);
    const chunks = s.events.filter((e) => e.choices.length);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks.map((e) => e.choices[0].text).join('')).toBe(want);
    expect(chunks.at(-1).choices[0].finish_reason).toBe(r.body.choices[0].finish_reason);
    expect(new Set(s.events.map((e) => e.id)).size).toBe(1);
    expect(s.events.at(-1).usage).toEqual(r.body.usage);
  });

  it('sampling is reproducible with a seed and follows temperature / top_p', async () => {
    const body = { prompt: 'Blood', max_tokens: 10, temperature: 1.5, top_p: 0.9, seed: 42 };
    const a = await post(`${url}/v1/completions`, body);
    const b = await post(`${url}/v1/completions`, body);
    expect(a.body.choices[0].text).toBe(b.body.choices[0].text);
    const want = engine.tokenizer.decode((await generate(engine.model, engine.encodePrompt('Blood'), { maxNewTokens: 10, temperature: 1.5, topP: 0.9, seed: 42, stopToken: engine.tokenizer.eotToken })).filter((i) => i !== engine.tokenizer.eotToken));
    expect(a.body.choices[0].text).toBe(want);
  });

  it('ends the text before a stop sequence, whole and streamed', async () => {
    const prompt = 'The lungs';
    const full = await greedy(engine, engine.encodePrompt(prompt), 30);
    expect(full.length).toBeGreaterThan(10);
    // a stop sequence from the middle of what the model writes
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 3);
    const want = full.slice(0, full.indexOf(stop));
    const r = await post(`${url}/v1/completions`, { prompt, max_tokens: 30, temperature: 0, stop: [stop, '\u0000never'] });
    expect(r.body.choices[0].text).toBe(want);
    expect(r.body.choices[0].finish_reason).toBe('stop');
    expect(r.body.usage.completion_tokens).toBeLessThan(30);
    const s = await postStream(`${url}/v1/completions`, { prompt, max_tokens: 30, temperature: 0, stop, stream: true });
    expect(s.events.map((e) => e.choices[0].text).join('')).toBe(want);
    expect(s.events.at(-1).choices[0].finish_reason).toBe('stop');
  });

  it('chat: the template, the reply as greedy generation writes it, whole and streamed', async () => {
    const messages = [{ role: 'system', content: 'You answer medical questions.' }, { role: 'user', content: 'What does the heart do?' }];
    const prompt = engine.encodeChat(messages as never);
    expect(engine.tokenizer.decode(prompt.slice(1))).toBe('System: You answer medical questions.\n\nUser: What does the heart do?\n\nAssistant:');
    const raw = await greedy(engine, prompt, 20);
    const want = raw.trimStart().split('\nUser:')[0]!;
    const r = await post(`${url}/v1/chat/completions`, { messages, max_tokens: 20, temperature: 0 });
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('chat.completion');
    expect(r.body.choices[0].message).toEqual({ role: 'assistant', content: want });
    expect(r.body.usage.prompt_tokens).toBe(prompt.length);
    const s = await postStream(`${url}/v1/chat/completions`, { messages, max_tokens: 20, temperature: 0, stream: true });
    expect(s.done).toBe(true);
    expect(s.events[0].object).toBe('chat.completion.chunk');
    expect(s.events[0].choices[0].delta.role).toBe('assistant');
    expect(s.events.map((e) => e.choices[0].delta.content ?? '').join('')).toBe(want);
    expect(s.events.at(-1).choices[0].finish_reason).toBe(r.body.choices[0].finish_reason);
  });
});

describe('mqg serve: multiple-choice scoring', () => {
  const question = { question: 'Which organ pumps blood?', options: ['the heart', 'the liver', 'the lungs', 'the skin'] };

  it('without a head: by log-likelihood, as eval-mcq scores it', async () => {
    const r = await post(`${url}/v1/mcq`, question);
    expect(r.status).toBe(200);
    expect(r.body.scorer).toBe('loglik');
    const want = await scoreQuestion(engine.model, engine.tokenizer, { id: 'q', ...question, answer: [0], source: '', chapter: '' });
    expect(r.body.scores.map((x: number) => x.toFixed(4))).toEqual(want.sum.map((x) => x.toFixed(4)));
    expect(r.body.loglik.uncond.map((x: number) => x.toFixed(4))).toEqual(want.uncond.map((x) => x.toFixed(4)));
    expect(r.body.ranking).toEqual([0, 1, 2, 3].sort((a, b) => want.sum[b]! - want.sum[a]!));
    expect(r.body.answer).toEqual([r.body.ranking[0]]);
    expect(r.body.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 5);
    // a context changes the prompt, so the scores
    const c = await post(`${url}/v1/mcq`, { ...question, context: 'A patient has chest pain.' });
    expect(c.status).toBe(200);
    expect(c.body.scores).not.toEqual(r.body.scores);
    expect(c.body.usage.prompt_tokens).toBeGreaterThan(r.body.usage.prompt_tokens);
  });

  it('with a head: by the head (a proposition head: a sigmoid per option)', async () => {
    const h = await serve(ck.withHead);
    const r = await post(`${h.url}/v1/mcq`, question);
    expect(r.status).toBe(200);
    expect([r.body.scorer, r.body.head]).toEqual(['head', 'proposition']);
    const items = prepareItems(h.engine.tokenizer, [{ id: 'q', ...question, answer: [0], source: '', chapter: '' }], 128);
    const want = (await scoreByHead(h.engine.model, h.engine.head!, items, h.engine.tokenizer.eotToken))[0]!.scores;
    expect(r.body.scores.map((x: number) => x.toFixed(4))).toEqual(want.map((x) => x.toFixed(4)));
    expect(r.body.probabilities.map((p: number) => p.toFixed(4))).toEqual(want.map((s) => (1 / (1 + Math.exp(-s))).toFixed(4)));
    expect(r.body.ranking[0]).toBe(want.indexOf(Math.max(...want)));
    // the body is the plain checkpoint's: the same log-likelihoods through the generation path
    const c = await post(`${h.url}/v1/completions`, { prompt: 'The heart', max_tokens: 5, temperature: 0 });
    expect(c.body.choices[0].text).toBe((await post(`${url}/v1/completions`, { prompt: 'The heart', max_tokens: 5, temperature: 0 })).body.choices[0].text);
  });
});

describe.skipIf(!HAVE_GOLDEN)('mqg serve: --adapter', () => {
  it('serves the base with the PEFT adapter applied, as loadAdaptedModel builds it', async () => {
    const tok = join(mkdtempSync(join(tmpdir(), 'mqg-serve-adapter-')), 'tok500.json');
    saveTokenizer(tok, trainBpe([readFileSync('data/corpus/questions.txt', 'utf8')], 500));
    const base = join(GOLDEN, 'model'), adapter = join(GOLDEN, 'adapter');
    const e = await openServeEngine({ checkpoint: base, adapter, tokenizer: tok, gpu, maxQueue: 4 });
    opened.push(e);
    expect(e.adapterDir).toBe(adapter);
    const s = await startServer(e.engine, { port: 0 });
    servers.push(s);
    const question = { question: 'Which organ pumps blood?', options: ['the heart', 'the liver', 'the lungs'] };
    const r = await post(`${s.url}/v1/mcq`, question);
    expect(r.status).toBe(200);
    const rec = { id: 'q', ...question, answer: [0], source: '', chapter: '' };
    const adapted = await loadAdaptedModel(gpu, base, adapter, { training: false });
    const want = await scoreQuestion(adapted, e.engine.tokenizer, rec);
    expect(r.body.scores.map((x: number) => x.toFixed(4))).toEqual(want.sum.map((x) => x.toFixed(4)));
    adapted.destroy();
    // the adapter matters: the bare base scores otherwise
    const { model: bare } = await loadModelAndSource(gpu, base, { training: false });
    expect((await scoreQuestion(bare, e.engine.tokenizer, rec)).sum.map((x) => x.toFixed(4))).not.toEqual(want.sum.map((x) => x.toFixed(4)));
    bare.destroy();
  });
});

describe('mqg serve: errors', () => {
  it('answers bad requests 400 with an OpenAI error object naming the field', async () => {
    const cases: [string, unknown, string | null, RegExp][] = [
      ['/v1/completions', '{"prompt": "x", ', null, /not valid JSON/],
      ['/v1/completions', '', null, /empty/],
      ['/v1/completions', { max_tokens: 5 }, 'prompt', /prompt is required/],
      ['/v1/completions', { prompt: 'x', max_tokens: 'many' }, 'max_tokens', /integer/],
      ['/v1/completions', { prompt: 'x', temperature: -1 }, 'temperature', /\[0, 2\]/],
      ['/v1/completions', { prompt: 'word '.repeat(200) }, 'prompt', /context is 128 tokens/],
      ['/v1/chat/completions', { messages: 'hi' }, 'messages', /non-empty array/],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }], top_p: 2 }, 'top_p', /\(0, 1\]/],
      ['/v1/mcq', { question: 'q', options: 'a,b' }, 'options', /2 to 26/],
      ['/v1/mcq', { options: ['a', 'b'] }, 'question', /required/],
    ];
    for (const [path, body, param, message] of cases) {
      const r = await post(`${url}${path}`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(Object.keys(r.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(r.body.error.type).toBe('invalid_request_error');
      expect(r.body.error.param, JSON.stringify(body)).toBe(param);
      expect(r.body.error.message).toMatch(message);
    }
    expect((await get(`${url}/v1/nothing`)).status).toBe(404);
    const wrong = await get(`${url}/v1/completions`);
    expect(wrong.status).toBe(405);
    expect(wrong.body.error.message).toMatch(/GET is not allowed/);
  });

  it('with an API key: 401 without the bearer token or with a wrong one, never echoing the key', async () => {
    const { url: u } = await serve(ck.plain, { apiKey: 'sk-test-secret' });
    const none = await get(`${u}/v1/models`);
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('invalid_api_key');
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await post(`${u}/v1/completions`, { prompt: 'x' }, { Authorization: 'Bearer sk-wrong' });
    expect(bad.status).toBe(401);
    expect(JSON.stringify(bad.body)).not.toContain('sk-test-secret');
    const good = await post(`${u}/v1/completions`, { prompt: 'x', max_tokens: 2 }, { Authorization: 'Bearer sk-test-secret' });
    expect(good.status).toBe(200);
  });

  it('refuses past --max-queue with 503 and Retry-After; the queued request is served after', async () => {
    const { url: u, engine: e } = await serve(ck.plain, { maxQueue: 1 });
    let release!: () => void;
    const busy = e.queue.run(() => new Promise<void>((r) => (release = r)));
    const queued = post(`${u}/v1/completions`, { prompt: 'x', max_tokens: 2, temperature: 0 });
    while (e.queue.waitingCount < 1) await new Promise((r) => setTimeout(r, 5));
    const refused = await post(`${u}/v1/mcq`, { question: 'q', options: ['a', 'b'] });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error.type).toBe('server_error');
    expect(refused.body.error.message).toMatch(/--max-queue 1/);
    release();
    await busy;
    expect((await queued).status).toBe(200);
  });
});

describe('mqg serve: cancellation and concurrency', () => {
  it('a client closing mid-stream cancels its generation; a queued one leaves the queue; the next request is served', async () => {
    const before = { ...engine.stats };
    const abort = new AbortController();
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'The', max_tokens: 120, temperature: 0, stream: true }), signal: abort.signal });
    const reader = r.body!.getReader();
    await reader.read(); // the first event: generation is under way
    abort.abort();
    const t0 = performance.now();
    const next = await post(`${url}/v1/completions`, { prompt: 'x', max_tokens: 3, temperature: 0 });
    expect(next.status).toBe(200);
    expect(engine.stats.cancelled).toBe(before.cancelled + 1);
    // the cancelled generation stopped well short of its 120 tokens
    expect(engine.stats.completionTokens - before.completionTokens - next.body.usage.completion_tokens).toBeLessThan(60);
    console.log(`served the next request ${(performance.now() - t0).toFixed(0)} ms after the client closed`);
    // a request waiting in the queue whose client goes away never runs
    let release!: () => void;
    const busy = engine.queue.run(() => new Promise<void>((res) => (release = res)));
    const gone = new AbortController();
    const waiting = fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ prompt: 'x', max_tokens: 3 }), signal: gone.signal }).catch(() => 'aborted');
    while (engine.queue.waitingCount < 1) await new Promise((res) => setTimeout(res, 5));
    gone.abort();
    expect(await waiting).toBe('aborted');
    while (engine.queue.waitingCount > 0) await new Promise((res) => setTimeout(res, 5));
    const completions = engine.stats.completions;
    release();
    await busy;
    expect(engine.stats.completions).toBe(completions);
  });

  it('holds 8 concurrent clients, every one answered, while a bad request is answered 400', async () => {
    const prompts = ['The heart', 'Blood', 'The lungs', 'Bones', 'The kidney', 'Cells', 'The brain', 'Muscles'];
    const want = await Promise.all(prompts.map((p) => post(`${url}/v1/completions`, { prompt: p, max_tokens: 8, temperature: 0 }).then((r) => r.body.choices[0].text as string)));
    const t0 = performance.now();
    const clients = prompts.map((prompt, i) =>
      i % 2 ? postStream(`${url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0, stream: true }).then((s) => s.events.map((e) => e.choices[0].text).join(''))
        : post(`${url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0 }).then((r) => r.body.choices[0].text as string));
    const bad = post(`${url}/v1/completions`, { prompt: 'x', max_tokens: -3 });
    const mcq = post(`${url}/v1/mcq`, { question: 'Which organ pumps blood?', options: ['the heart', 'the liver'] });
    const [texts, badAnswer, mcqAnswer] = await Promise.all([Promise.all(clients), bad, mcq]);
    console.log(`8 concurrent completions (8 tokens each) and one MCQ in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(texts).toEqual(want);
    expect(badAnswer.status).toBe(400);
    expect(badAnswer.body.error.param).toBe('max_tokens');
    expect(mcqAnswer.status).toBe(200);
    expect(engine.queue.busy).toBe(false);
  });
});
