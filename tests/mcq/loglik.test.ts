// Log-likelihood scoring: batched (many questions per forward) equals one question per forward,
// and the summed score equals log-softmax of the logits computed directly for one row.
import { describe, expect, it } from 'vitest';
import { getGPU } from '../helpers/gpu';
import { GPT2 } from '../../src/model/gpt2';
import { makeConfig } from '../../src/model/config';
import type { McqRecord } from '../../src/train/data/mcq';
import type { Tokenizer } from '../../src/train/tokenizer/types';
import { evaluateMcq, scoreByLoglik } from '../../src/train/mcq-eval';
import { MCQ_PROMPT } from '../../src/train/data/mcq-context';

// one token per character, ids = char code % 50
const tok: Tokenizer = {
  name: 'chars50', vocabSize: 50, eotToken: 49,
  encode: (s) => [...s].map((c) => c.charCodeAt(0) % 49),
  decode: () => '',
};
const recs: McqRecord[] = [
  { id: 'a', question: 'ab?', options: ['x', 'yz', 'w'], answer: [1], source: 's1', chapter: 'c' },
  { id: 'b', question: 'c', options: ['pq', 'r'], answer: [0], source: 's2', chapter: 'c', caseId: 'k', caseOrder: 1 },
  { id: 'c', question: 'de', options: ['u', 'v', 'tt', 's'], answer: [0, 3], source: 's2', chapter: 'd', caseId: 'k', caseOrder: 2 },
];

describe('log-likelihood scoring', () => {
  it('batched equals per question, and matches log-softmax of the logits', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, makeConfig({ nLayer: 1, nHead: 2, nEmbd: 16, nPositions: 64, vocabSize: 50 }), { training: false });
    model.initRandom(5);
    // options of many questions share one forward: the whole set in one, or one question per forward
    const forward = model.forward.bind(model);
    let forwards = 0;
    model.forward = (...a) => { forwards++; return forward(...a); };
    const all = await scoreByLoglik(model, tok, recs, { maxTokens: 1 << 16 });
    expect(forwards).toBe(1);
    const one = await scoreByLoglik(model, tok, recs, { maxTokens: 1 });
    expect(forwards).toBe(1 + recs.length);
    for (const k of ['sum', 'mean', 'norm', 'uncond'] as const) {
      all.forEach((s, q) => s[k].forEach((v, i) => expect(Math.abs(v - one[q]![k][i]!), `${k} q${q} o${i}`).toBeLessThan(1e-4)));
    }
    // question a, option "yz": log P(y | prompt) + log P(z | prompt y)
    const seq = tok.encode(`${MCQ_PROMPT('ab?')} yz`);
    const T = seq.length - 1;
    await model.forward(seq.slice(0, T), null, 1, T);
    const logits = await model.logits();
    let want = 0;
    for (let t = T - 3; t < T; t++) { // the option's tokens " ", "y", "z"
      const row = logits.subarray(t * 50, (t + 1) * 50);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
      want += row[seq[t + 1]!]! - lse;
    }
    expect(all[0]!.sum[1]).toBeCloseTo(want, 4);
    expect(all[0]!.mean[1]).toBeCloseTo(want / 3, 4);
    expect(all[0]!.norm[1]).toBeCloseTo(want / 2, 4);
    const report = await evaluateMcq(model, tok, recs);
    expect(report.questions).toBe(3);
    expect(Object.keys(report.metrics.sum.bySource)).toEqual(['s1', 's2']);
    expect(report.metrics.sum.byKind.progressive!.questions).toBe(2);
    expect(report.metrics.sum.overall.chance.accuracy).toBeCloseTo((1 / 3 + 1 / 2 + 2 / 4) / 3, 12);
    model.destroy();
  });
});
