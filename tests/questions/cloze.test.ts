// The offline cloze generator on the bundled textbook text (data/corpus/topics.txt): the same
// questions on every run, each a sentence of its passage with its key term blanked, the options that
// term and terms of the same kind; questions.jsonl loads with the project's MCQ reader.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateQuestions, QUESTIONS_DEFAULTS } from '../../src/train/questions/run.node';
import { readMcqFile } from '../../src/train/data/mcq.node';
import { sentences, TermIndex } from '../../src/train/questions/cloze';
import { cutPassages } from '../../src/train/questions/passages';
import { gpt2Tokenizer } from '../../src/train/tokenizer/gpt2';

const TOPICS = 'data/corpus/topics.txt';

describe('--generator cloze', () => {
  const run = (out: string, extra = {}) => generateQuestions({ ...QUESTIONS_DEFAULTS, text: [TOPICS], out, generator: 'cloze', perPassage: 2, ...extra });

  it('is deterministic on topics.txt and writes questions the MCQ reader loads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mqg-cloze-'));
    const a = await run(join(dir, 'a'));
    const b = await run(join(dir, 'b'), { concurrency: 1 });
    const read = (d: string, f: string) => readFileSync(join(dir, d, f), 'utf8');
    for (const f of ['questions.jsonl', 'corpus.txt', 'rejected.jsonl', 'done.jsonl']) expect(read('a', f), f).toBe(read('b', f));
    expect(a.passagesTotal).toBe(124); // topics.txt's 124 documents, each under 400 tokens
    expect(a.kept).toBe(b.kept);
    expect(a.kept).toBeGreaterThan(200);
    expect(a.kept + a.rejected).toBeLessThanOrEqual(248 + 124);
    expect(a.requests).toBe(0);

    const records = readMcqFile(join(dir, 'a', 'questions.jsonl'));
    expect(records.length).toBe(a.kept);
    expect(new Set(records.map((r) => r.id)).size).toBe(records.length);
    const lines = read('a', 'questions.jsonl').trim().split('\n').map((l) => JSON.parse(l) as { passage: string; explanation: string });
    const tok = gpt2Tokenizer();
    const passages = cutPassages([{ name: 'topics', text: readFileSync(TOPICS, 'utf8'), markdown: false }], 400, (s) => tok.encode(s).length).passages;
    const index = new TermIndex(passages.map((p) => p.text), 5);
    records.forEach((r, i) => {
      expect(r.options.length).toBe(5);
      expect(new Set(r.options.map((o) => o.toLowerCase())).size).toBe(5);
      expect(r.answer.length).toBe(1);
      expect(r.source).toBe('topics');
      expect(r.chapter).not.toBe('');
      // the blanked sentence with the correct option put back is a sentence of the passage
      const sentence = lines[i]!.explanation.replace(/^The passage says: /, '');
      const filled = r.question.replace(/^Which term fills the blank\? /, '').replace('_____', r.options[r.answer[0]!]!);
      expect(filled.toLowerCase()).toBe(sentence.toLowerCase());
      // every option is a term of the corpus, all of one kind
      const kinds = new Set(r.options.map((o) => index.terms.get(o.toLowerCase())?.kind));
      expect(kinds.size, r.options.join(', ')).toBe(1);
      expect([...kinds][0]).toBeDefined();
    });
    // corpus.txt: one paragraph per question
    expect(read('a', 'corpus.txt').trim().split('\n\n').length).toBe(records.length);
  });

  it('splits sentences and finds term kinds', () => {
    expect(sentences('The heart pumps. It has four chambers! Why? e.g. no')).toEqual(['The heart pumps.', 'It has four chambers!', 'Why? e.g. no']);
    const index = new TermIndex(readFileSync(TOPICS, 'utf8').split('\n'), 5);
    expect(index.terms.get('smooth muscle')?.kind).toBe('head:muscle');
    expect(index.terms.get('hepatitis')?.kind).toBe('suffix:itis');
    expect(index.byKind.get('head:muscle')!.length).toBeGreaterThanOrEqual(5);
  });
});
