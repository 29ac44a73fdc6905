// `mqg questions` against an OpenAI-compatible endpoint: a scripted server on loopback answers with
// valid, fenced, malformed and invalid replies, 429 with Retry-After, 500, a reply slower than the
// timeout and a dropped connection; the run keeps, rejects (with reasons), retries and resumes as
// documented, and the API key appears in no file it writes.
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { generateQuestions, QUESTIONS_DEFAULTS, type QuestionsOptions } from '../../src/train/questions/run.node';
import { readMcqFile } from '../../src/train/data/mcq.node';
import { EndpointError, RunDirError } from '../../src/util/errors';
import { startChatServer, USAGE, type ChatServer } from '../helpers/chat-server';
import { filesOf, json, KEY, REPLIES, script, simple, writeBook } from './scripted';

const jsonl = (path: string) => readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

describe('mqg questions against an OpenAI-compatible endpoint', () => {
  let server: ChatServer | undefined;
  afterEach(async () => void (await server?.close(), (server = undefined)));
  const base = (dir: string, url: string, extra: Partial<QuestionsOptions> = {}): QuestionsOptions => ({
    ...QUESTIONS_DEFAULTS, text: [writeBook(dir)], out: join(dir, 'out'), generator: 'llm', endpoint: url, model: 'scripted', apiKey: KEY,
    concurrency: 4, timeout: 1, retries: 3, backoff: 0.05, ...extra,
  });

  it('keeps, rejects with reasons, retries (429 after its Retry-After, 500, timeout, dropped connection) and never writes the key', async () => {
    server = await startChatServer(script);
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-'));
    const logs: string[] = [];
    const s = await generateQuestions(base(dir, server.url, { minGrounding: 0.5 }), { log: (l) => logs.push(l) });
    const out = join(dir, 'out');
    expect(s.passagesTotal).toBe(11);
    expect(s.passagesDone).toBe(11);
    expect(s.failed).toBe(0);
    // every request carried the key as a bearer token, the model and the prompt
    expect(server.calls.every((c) => c.authorization === `Bearer ${KEY}` && c.body.model === 'scripted')).toBe(true);
    const asked = (m: string) => server!.calls.filter((c) => c.marker === m);
    expect(Object.fromEntries(['valid', 'r429', 'r500', 'slow', 'drop', 'echo'].map((m) => [m, asked(m).length]))).toEqual({ valid: 1, r429: 2, r500: 3, slow: 2, drop: 2, echo: 1 });
    const [a429, b429] = asked('r429');
    expect(b429!.at - a429!.at).toBeGreaterThanOrEqual(950); // Retry-After: 1
    const [aSlow, bSlow] = asked('slow');
    expect(bSlow!.at - aSlow!.at).toBeGreaterThanOrEqual(950); // --timeout 1
    expect(logs.some((l) => /book-p0007: HTTP 429; retry 1 in 1\.0 s/.test(l))).toBe(true);
    expect(logs.some((l) => /book-p0009: no reply within --timeout 1 s/.test(l))).toBe(true);
    expect(logs.some((l) => /book-p0010: network error/.test(l))).toBe(true);
    expect(s.requests).toBe(16);
    expect(s.retries).toBe(5);
    expect(s.usage).toEqual({ promptTokens: 11 * USAGE.prompt_tokens, completionTokens: 11 * USAGE.completion_tokens, totalTokens: 11 * USAGE.total_tokens });

    const kept = readMcqFile(join(out, 'questions.jsonl'));
    expect(kept.length).toBe(11);
    expect(s.kept).toBe(11);
    const lines = jsonl(join(out, 'questions.jsonl'));
    const byPassage = (p: string) => lines.filter((l) => l.passage === p);
    expect(byPassage('book-p0001').map((l) => l.answer)).toEqual([[0], [0, 1]]);
    expect(byPassage('book-p0001')[0]).toMatchObject({ id: 'book-p0001-q1', source: 'book', chapter: 'Cardiology / Valves', explanation: 'Where does the mitral valve lie? (explained)', grounding: 1 });
    expect(byPassage('book-p0002').length).toBe(1); // fenced
    expect(byPassage('book-p0004').map((l) => l.question)).toEqual(['What do beta blockers do?']);
    expect(byPassage('book-p0005').map((l) => [l.question, l.grounding])).toEqual([['How do nitrates act?', 0.667]]);
    const cases = byPassage('book-p0006');
    expect(cases.map((l) => [l.case_id, l.case_order])).toEqual([['book-p0006-case', 1], ['book-p0006-case', 2]]);
    expect(cases[0].question).toBe('A 58-year-old man has had crushing chest pain for two hours.\n\nWhat is the most likely diagnosis?');
    expect(cases[1].question).toBe('Which test rises within hours?');

    const rejected = jsonl(join(out, 'rejected.jsonl')).map((r) => [r.passage, r.question ?? null, r.reason]);
    expect(rejected).toEqual(expect.arrayContaining([
      ['book-p0003', null, expect.stringMatching(/^the reply is not valid JSON/)],
      ['book-p0004', 0, 'empty or missing "question"'],
      ['book-p0004', 1, '4 options; expected 5'],
      ['book-p0004', 2, 'options are not distinct'],
      ['book-p0004', 3, 'answer "F" is not one of the letters A, B, C, D, E'],
      ['book-p0004', 4, 'empty or missing "answers"'],
      ['book-p0004', 6, 'duplicate of a question already kept'],
      ['book-p0004', 7, 'not a JSON object'],
      ['book-p0005', 0, 'grounding 0.00 below --min-grounding 0.5'],
      ['book-p0011', null, 'no JSON object in the reply'],
    ]));
    expect(rejected.length).toBe(10);
    expect(s.rejected).toBe(10);

    // corpus.txt: one paragraph per question, the case as one paragraph of its two questions
    const corpus = readFileSync(join(out, 'corpus.txt'), 'utf8');
    expect(corpus.trim().split('\n\n').length).toBe(10);
    expect(corpus).toContain('Case: A 58-year-old man has had crushing chest pain for two hours.\nQuestion: What is the most likely diagnosis?\nA. Myocardial infarction');
    expect(corpus).toContain('Answer: A, B\nExplanation: Which statements about the valves are true? (explained)');

    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.fixed).toMatchObject({ generator: 'llm', endpoint: server.url, model: 'scripted', promptSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(run.counts).toMatchObject({ passagesDone: 11, kept: 11, rejected: 10, requests: 16, retries: 5 });
    expect(run.settings.apiKeyEnv).toBe('OPENAI_API_KEY');
    // the echoed Authorization header was scrubbed; the key is in no file
    for (const [f, text] of Object.entries(filesOf(out))) expect(text, f).not.toContain(KEY);
    expect(readFileSync(join(out, 'rejected.jsonl'), 'utf8')).toContain('You sent: Bearer ***');
  });

  it('resumes: skips the passages done, asks nothing twice, cuts a half-written passage off, and a finished run sends no request', async () => {
    server = await startChatServer((c) => ({ content: simple(c.marker) }));
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-'));
    const out = join(dir, 'out');
    let s = await generateQuestions(base(dir, server.url, { limit: 3 }));
    expect([s.passagesDone, s.passagesTotal, server.calls.length]).toEqual([3, 3, 3]);
    await expect(generateQuestions(base(dir, server.url))).rejects.toThrow(/--out .* already exists.*--resume.*--overwrite/);
    await expect(generateQuestions(base(dir, server.url, { resume: true, perPassage: 5 }))).rejects.toThrow(RunDirError);
    await expect(generateQuestions(base(dir, server.url, { resume: true, perPassage: 5 }))).rejects.toThrow(/perPassage .* is 3, not 5/);
    s = await generateQuestions(base(dir, server.url, { resume: true }));
    expect([s.passagesDone, s.resumedPassages, s.passagesTotal, server.calls.length]).toEqual([11, 3, 11, 11]);
    expect(server.calls.every((c) => c.attempt === 1)).toBe(true);
    const before = filesOf(out);
    // a kill in the middle of a passage's appends: bytes past the journal's sizes, and half a journal line
    appendFileSync(join(out, 'questions.jsonl'), '{"id":"half-writ');
    appendFileSync(join(out, 'corpus.txt'), 'Question: half');
    appendFileSync(join(out, 'done.jsonl'), '{"passage":"book-p00');
    s = await generateQuestions(base(dir, server.url, { resume: true }));
    expect(server.calls.length).toBe(11); // nothing asked
    expect(s.passagesDone).toBe(11);
    const after = filesOf(out);
    for (const f of ['questions.jsonl', 'rejected.jsonl', 'corpus.txt', 'done.jsonl']) expect(after[f], f).toBe(before[f]);
    expect(readMcqFile(join(out, 'questions.jsonl')).length).toBe(11);
    // --overwrite starts again
    s = await generateQuestions(base(dir, server.url, { overwrite: true, limit: 1 }));
    expect([s.passagesDone, server.calls.length]).toEqual([1, 12]);
  });

  it('stops on a refusal (401) with a message without the key, and after failures in a row; failed passages are asked again on --resume', async () => {
    let healthy = false;
    server = await startChatServer((c) => {
      if (c.authorization !== `Bearer ${KEY}`) return { status: 401, body: json({ error: { message: `bad key ${c.authorization}` } }) };
      return healthy ? { content: simple(c.marker) } : { status: 500 };
    });
    const withKey = () => server!.calls.filter((c) => c.authorization === `Bearer ${KEY}`);
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-'));
    const wrong = `${KEY}-wrong`;
    const err = await generateQuestions(base(dir, server.url, { apiKey: wrong })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EndpointError);
    expect((err as Error).message).toMatch(/HTTP 401 \(bad key Bearer \*\*\*\)/);
    expect((err as Error).message).not.toContain(KEY);
    expect(server.calls.length).toBeLessThanOrEqual(4);
    const out2 = mkdtempSync(join(tmpdir(), 'mqg-questions-'));
    const err2 = await generateQuestions(base(out2, server.url, { concurrency: 1, retries: 1 })).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/3 passages in a row failed \(the last: .*HTTP 500, after 2 attempts\); stopping/);
    expect(withKey().map((c) => c.marker)).toEqual(['valid', 'valid', 'fenced', 'fenced', 'malformed', 'malformed']);
    expect(readFileSync(join(out2, 'out', 'done.jsonl'), 'utf8')).toBe('');
    healthy = true;
    const s = await generateQuestions(base(out2, server.url, { concurrency: 1, resume: true }));
    expect([s.passagesDone, s.failed]).toEqual([11, 0]);
    expect(withKey().length).toBe(6 + 11);
  });

  it('stops on an abort (Ctrl-C) with the finished passages kept', async () => {
    server = await startChatServer((c) => (c.marker === 'valid' ? { content: REPLIES.valid! } : { hang: true }));
    const dir = mkdtempSync(join(tmpdir(), 'mqg-questions-'));
    const stop = new AbortController();
    const s = await generateQuestions(base(dir, server.url, { concurrency: 1, timeout: 60, signal: stop.signal }), {
      progress: (p) => void (p.passagesDone === 1 && setTimeout(() => stop.abort(new Error('interrupted')), 200)),
    });
    expect([s.stopped, s.passagesDone, server.calls.length]).toEqual([true, 1, 2]);
    expect(readMcqFile(join(dir, 'out', 'questions.jsonl')).length).toBe(2);
  });
});
