// Metrics against hand-computed examples, and progressive context built as specified on
// hand-worked cases (a character tokenizer makes token counts equal character counts).
import { describe, expect, it } from 'vitest';
import { metricGroups, metricsOf, type McqPrediction } from '../../src/train/data/mcq-metrics';
import { caseHistory, questionRows } from '../../src/train/data/mcq-context';
import type { McqRecord } from '../../src/train/data/mcq';
import type { Tokenizer } from '../../src/train/tokenizer/types';

const P = (id: string, scores: number[], answer: number[], source = 's', chapter = 'c', progressive = false): McqPrediction => ({ id, scores, answer, source, chapter, progressive });
const Q = [
  P('q1', [0.1, 2, -1, 0.5], [1], 'a', 'x'),
  P('q2', [3, 0, 0, 1], [1, 3], 'a', 'y', true),
  P('q3', [-1, 5, 4, -2, 0], [1, 2], 'b', 'x', true),
];

describe('MCQ metrics', () => {
  it('single-answer predictions (argmax): accuracy, EMR, Hamming and their chance levels', () => {
    const m = metricsOf(Q, 'single');
    // q1 hit, P={1}=G; q2 P={0}, G={1,3}: 0; q3 P={1}, G={1,2}: 1/2
    expect(m.questions).toBe(3);
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.emr).toBeCloseTo(1 / 3, 12);
    expect(m.hamming).toBeCloseTo(0.5, 12);
    // chance: |G|/n; [|G|=1]/n; 1/n
    expect(m.chance.accuracy).toBeCloseTo((1 / 4 + 2 / 4 + 2 / 5) / 3, 12);
    expect(m.chance.emr).toBeCloseTo(1 / 4 / 3, 12);
    expect(m.chance.hamming).toBeCloseTo((1 / 4 + 1 / 4 + 1 / 5) / 3, 12);
  });

  it('set predictions (logit > 0): EMR and Hamming, chance over non-empty subsets', () => {
    const m = metricsOf(Q, 'set');
    // q1 P={0,1,3}, G={1}: 1/3; q2 P={0,3}, G={1,3}: 1/3; q3 P={1,2}=G: 1
    expect(m.accuracy).toBeCloseTo(2 / 3, 12);
    expect(m.emr).toBeCloseTo(1 / 3, 12);
    expect(m.hamming).toBeCloseTo((1 / 3 + 1 / 3 + 1) / 3, 12);
    // n=4,|G|=1: sum_k C(3,k-1)/k = 3.75 over 15 subsets; n=4,|G|=2: 17/3 over 15; n=5,|G|=2: 9.8 over 31
    expect(m.chance.emr).toBeCloseTo((1 / 15 + 1 / 15 + 1 / 31) / 3, 12);
    expect(m.chance.hamming).toBeCloseTo((3.75 / 15 + 17 / 3 / 15 + 9.8 / 31) / 3, 12);
    // no positive logit: the top option is the prediction
    expect(metricsOf([P('z', [-3, -1, -2], [1])], 'set')).toMatchObject({ accuracy: 1, emr: 1, hamming: 1 });
  });

  it('groups by source, chapter, and single vs progressive', () => {
    const g = metricGroups(Q, 'single');
    expect(Object.keys(g.bySource)).toEqual(['a', 'b']);
    expect(g.bySource.a).toMatchObject({ questions: 2, accuracy: 0.5, emr: 0.5, hamming: 0.5 });
    expect(g.byChapter.x).toMatchObject({ questions: 2, accuracy: 1, emr: 0.5, hamming: 0.75 });
    expect(g.byKind.single).toMatchObject({ questions: 1, accuracy: 1 });
    expect(g.byKind.progressive).toMatchObject({ questions: 2, accuracy: 0.5, emr: 0, hamming: 0.25 });
    expect(metricGroups(Q.slice(0, 1), 'single').byKind.progressive).toBeUndefined();
  });
});

const charTok: Tokenizer = {
  name: 'chars', vocabSize: 0x110000, eotToken: 0,
  encode: (s) => [...s].map((c) => c.codePointAt(0)!),
  decode: (ids) => String.fromCodePoint(...Array.from(ids)),
};
const R = (id: string, question: string, options: string[], answer: number[], caseId?: string, caseOrder?: number): McqRecord => ({
  id, question, options, answer, source: 's', chapter: 'c', ...(caseId ? { caseId, caseOrder } : {}),
});
const r1 = R('r1', 'A?', ['x', 'y'], [1], 'k', 1);
const r2 = R('r2', 'B?', ['p', 'q'], [0], 'k', 2);
const r3 = R('r3', 'C?', ['u', 'vw'], [1], 'k', 3);
const single = R('s1', 'D?', ['m', 'n'], [0]);
const text = (ids: number[]) => charTok.decode(ids);

describe('progressive context', () => {
  it("a case's earlier questions in case order, whatever the file order", () => {
    const h = caseHistory([r3, single, r1, r2]);
    expect(h.map((x) => x.map((r) => r.id))).toEqual([['r1', 'r2'], [], [], ['r1']]);
    expect(() => caseHistory([r1, { ...r2, caseOrder: 1 }])).toThrow('case "k": questions "r1" and "r2" have the same case_order 1');
  });

  it('earlier questions with their correct answers as context; oldest dropped first', () => {
    const hist = caseHistory([r1, r2, r3])[2]!;
    // block: "Question: A?\nAnswer: y\n\n" = 24 chars; prompt "Question: C?\nAnswer:" = 20; longest option " vw" = 3
    let q = questionRows(charTok, r3, hist, 100);
    expect(q.contextKept).toBe(2);
    expect(text(q.rows[1]!)).toBe('Question: A?\nAnswer: y\n\nQuestion: B?\nAnswer: p\n\nQuestion: C?\nAnswer: vw');
    expect(q.optionStart).toEqual([68, 68]);
    expect(q.rows.map((r) => r.length)).toEqual([70, 71]);
    // 50 tokens: 27 left for context -> only the newest block (24)
    q = questionRows(charTok, r3, hist, 50);
    expect(q.contextKept).toBe(1);
    expect(text(q.rows[0]!)).toBe('Question: B?\nAnswer: p\n\nQuestion: C?\nAnswer: u');
    // 46 tokens: 23 left, no block fits
    q = questionRows(charTok, r3, hist, 46);
    expect(q.contextKept).toBe(0);
    expect(text(q.rows[0]!)).toBe('Question: C?\nAnswer: u');
    // 10 tokens: the prompt keeps its last 7
    q = questionRows(charTok, r3, hist, 10);
    expect(q.rows.map(text)).toEqual(['Answer: u', 'Answer: vw']);
    expect(q.optionStart).toEqual([7, 7]);
    // several correct answers are joined by "; "
    q = questionRows(charTok, r2, [R('r0', 'Z?', ['a', 'b', 'c'], [0, 2], 'k', 0)], 100);
    expect(text(q.rows[0]!)).toBe('Question: Z?\nAnswer: a; c\n\nQuestion: B?\nAnswer: p');
  });
});
