// `mqg questions --holdout-fraction`: the held-out passages (each by its id's hash: the same side in
// every run), and the split files written from questions.jsonl: every question on exactly one
// side by its passage, corpus-train.txt the training text of the train side only, the files removed
// when a later session asks for no split.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateQuestions, QUESTIONS_DEFAULTS } from '../../src/train/questions/run.node';
import { heldOutPassages, isHeldOut, splitByPassage } from '../../src/train/questions/split';
import { corpusText, type QuestionLine } from '../../src/train/questions/records';
import { readMcqFile } from '../../src/train/data/mcq.node';
import { mqg } from '../helpers/cli';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `topics-p${String(i + 1).padStart(4, '0')}`);

describe('held-out passages', () => {
  it('each passage by the hash of its id: about F × N of them, spread over the text, the same whatever the order or the other passages', () => {
    // the figures of this hash on these ids (they change only if the rule does)
    expect(heldOutPassages(ids(124), 0.2).size).toBe(24);
    expect(heldOutPassages(ids(1000), 0.2).size).toBeGreaterThan(160);
    expect(heldOutPassages(ids(1000), 0.2).size).toBeLessThan(240);
    expect(heldOutPassages(ids(124), 0).size).toBe(0);
    expect(heldOutPassages([], 0.5).size).toBe(0);
    const a = heldOutPassages(ids(124), 0.2);
    expect([...heldOutPassages([...ids(124)].reverse(), 0.2)].sort()).toEqual([...a].sort());
    // a passage's side does not depend on the others (a --limit or a --resume over more passages keeps it)
    expect(heldOutPassages(ids(60), 0.2)).toEqual(new Set([...a].filter((id) => id <= 'topics-p0060')));
    for (const id of ids(124)) expect(isHeldOut(id, 0.2)).toBe(a.has(id));
    // a larger share holds out a superset
    for (const id of a) expect(isHeldOut(id, 0.5)).toBe(true);
    // spread over the text, not its first or last passages
    expect([...a].some((id) => id < 'topics-p0040') && [...a].some((id) => id > 'topics-p0080')).toBe(true);
  });

  it('splits lines by passage, in order, with the training text of the train side', () => {
    const line = (passage: string, i: number, c?: string): QuestionLine => ({
      id: `${passage}-q${i}`, question: c && i === 1 ? `${c}\n\nQ${i}?` : `Q${i}?`, options: ['a', 'b'], answer: [0], source: 'book', chapter: 'c',
      passage, explanation: '', grounding: 1, ...(c ? { case_id: `${passage}-case`, case_order: i, case: c } : {}),
    });
    const lines = [line('p1', 1), line('p2', 1, 'A case.'), line('p2', 2, 'A case.'), line('p3', 1)];
    const s = splitByPassage(lines, new Set(['p2']));
    expect(s.heldout.map((l) => l.id)).toEqual(['p2-q1', 'p2-q2']);
    expect(s.train.map((l) => l.id)).toEqual(['p1-q1', 'p3-q1']);
    expect(s.trainCorpus).toBe(corpusText([lines[0]!]) + corpusText([lines[3]!]));
  });
});

describe('mqg questions --holdout-fraction (cloze on topics.txt)', () => {
  const run = (out: string, extra = {}) => generateQuestions({ ...QUESTIONS_DEFAULTS, text: ['data/corpus/topics.txt'], out, generator: 'cloze', ...extra });

  it('writes the split files from questions.jsonl, rewrites them on --resume, removes them without the flag', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mqg-holdout-')), 'q');
    const read = (f: string) => readFileSync(join(out, f), 'utf8');
    const s = await run(out, { holdoutFraction: 0.2, limit: 60 });
    expect(s.passagesTotal).toBe(60);
    const held = heldOutPassages(Array.from({ length: 60 }, (_, i) => `topics-p${String(i + 1).padStart(4, '0')}`), 0.2);
    expect(held.size).toBeGreaterThan(4);
    expect(s.holdout!.passages).toBe(held.size);
    const all = read('questions.jsonl').trim().split('\n').map((l) => JSON.parse(l) as QuestionLine);
    const train = read('questions-train.jsonl').trim().split('\n').map((l) => JSON.parse(l) as QuestionLine);
    const heldout = read('questions-heldout.jsonl').trim().split('\n').map((l) => JSON.parse(l) as QuestionLine);
    expect(train.length).toBe(s.holdout!.trainQuestions);
    expect(heldout.length).toBe(s.holdout!.heldoutQuestions);
    expect(train.length + heldout.length).toBe(all.length);
    expect(heldout.length).toBeGreaterThan(10);
    for (const l of heldout) expect(held.has(l.passage), l.id).toBe(true);
    for (const l of train) expect(held.has(l.passage), l.id).toBe(false);
    expect(train).toEqual(all.filter((l) => !held.has(l.passage)));
    // the training text: corpus.txt's paragraphs of the train questions, in order, and none of the held-out ones
    const paragraphs = read('corpus.txt').split('\n\n').filter(Boolean);
    expect(paragraphs.length).toBe(all.length); // cloze: one paragraph per question
    expect(read('corpus-train.txt').split('\n\n').filter(Boolean)).toEqual(paragraphs.filter((_, i) => !held.has(all[i]!.passage)));
    expect(readMcqFile(join(out, 'questions-heldout.jsonl')).length).toBe(heldout.length);
    expect(JSON.parse(read('run.json')).counts.holdout).toEqual(s.holdout);

    // --resume over all the passages: the earlier held-out passages stay held out, and no train one moves
    const more = await run(out, { holdoutFraction: 0.2, limit: 0, resume: true });
    expect(more.holdout!.passages).toBe(24);
    const heldNow = new Set(readFileSync(join(out, 'questions-heldout.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as QuestionLine).passage));
    for (const p of new Set(heldout.map((l) => l.passage))) expect(heldNow.has(p)).toBe(true);
    for (const p of new Set(train.map((l) => l.passage))) expect(heldNow.has(p)).toBe(false);
    expect(more.holdout!.trainQuestions + more.holdout!.heldoutQuestions).toBe(more.kept);

    const none = await run(out, { resume: true });
    expect(none.holdout).toBeUndefined();
    for (const f of ['questions-train.jsonl', 'questions-heldout.jsonl', 'corpus-train.txt']) expect(existsSync(join(out, f)), f).toBe(false);
  });

  it('the CLI prints the split and refuses a share it cannot honour', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mqg-holdout-cli-')), 'q');
    const r = mqg('questions', '--generator', 'cloze', '--text', 'data/corpus/topics.txt', '--limit', '40', '--holdout-fraction', '0.3', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const held = heldOutPassages(Array.from({ length: 40 }, (_, i) => `topics-p${String(i + 1).padStart(4, '0')}`), 0.3).size;
    const n = readFileSync(join(out, 'questions-heldout.jsonl'), 'utf8').trim().split('\n').length;
    const m = readFileSync(join(out, 'questions-train.jsonl'), 'utf8').trim().split('\n').length;
    expect(r.stdout).toContain(`held out: ${held} of 40 passages, ${n} questions in ${out}/questions-heldout.jsonl; the other ${m} in ${out}/questions-train.jsonl and ${out}/corpus-train.txt`);
    const bad = mqg('questions', '--generator', 'cloze', '--text', 'data/corpus/topics.txt', '--holdout-fraction', '1', '--out', `${out}-2`);
    expect(bad.status).toBe(2); // a usage error
    expect(bad.stderr.trim()).toBe('error: mqg questions: --holdout-fraction must be < 1; got 1');
  });
});
