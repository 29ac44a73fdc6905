// Multiple-choice evaluation: score each option by the model's log-likelihood of the option text
// given the question, predict the best, and report accuracy (overall and by source).

import type { GPT2 } from '../model/gpt2';
import type { Tokenizer } from './tokenizer/types';
import type { McqRecord } from './data/mcq';

/** One question's scores: each option's log-likelihood after the prompt. */
export interface McqScore {
  /** The question id. */
  id: string;
  /** The question source. */
  source: string;
  /** Per option: summed log-likelihood of its tokens, and the per-token mean. */
  sum: number[];
  /** Per option: mean log-likelihood per token. */
  mean: number[];
  /** The option with the highest summed log-likelihood. */
  predictedSum: number;
  /** The option with the highest per-token mean. */
  predictedMean: number;
  /** The correct option indexes. */
  answer: number[];
}

/** Accuracy over a set of questions, overall and by source. */
export interface McqReport {
  /** Questions scored. */
  questions: number;
  /** Top-1 prediction is in the answer set. */
  accuracySum: number;
  /** Top-1 accuracy by the per-token mean log-likelihood. */
  accuracyMean: number;
  /** The |answer| best options by summed log-likelihood are exactly the answer set (for questions
   *  with one correct option this equals top-1 accuracy). */
  exactMatch: number;
  /** The same figures per source. */
  bySource: Record<string, { questions: number; accuracySum: number; accuracyMean: number }>;
  /** Every question's scores. */
  scores: McqScore[];
}

export const MCQ_PROMPT = (q: string) => `Question: ${q}\nAnswer:`;

/** Score one question: every option in one batch of B = number of options. */
export async function scoreQuestion(model: GPT2, tok: Tokenizer, rec: McqRecord): Promise<McqScore> {
  const maxT = model.config.nPositions;
  const ctx = tok.encode(MCQ_PROMPT(rec.question));
  const opts = rec.options.map((o) => tok.encode(` ${o}`).slice(0, maxT - 1));
  const rows = opts.map((o) => {
    const keep = Math.max(1, Math.min(ctx.length, maxT + 1 - o.length - 1));
    const c = ctx.slice(ctx.length - keep);
    return { seq: [...c, ...o], start: c.length };
  });
  const T = Math.min(maxT, Math.max(...rows.map((r) => r.seq.length - 1)));
  const B = rows.length;
  const inputs = new Int32Array(B * T).fill(tok.eotToken);
  const targets = new Int32Array(B * T).fill(-1);
  rows.forEach((r, b) => {
    for (let t = 0; t < Math.min(T, r.seq.length - 1); t++) {
      inputs[b * T + t] = r.seq[t]!;
      if (t + 1 >= r.start) targets[b * T + t] = r.seq[t + 1]!;
    }
  });
  await model.forward(inputs, targets, B, T);
  const losses = await model.positionLosses();
  const sum: number[] = [], mean: number[] = [];
  rows.forEach((_, b) => {
    let s = 0, n = 0;
    for (let t = 0; t < T; t++) if (targets[b * T + t]! >= 0) { s -= losses[b * T + t]!; n++; }
    sum.push(s);
    mean.push(s / Math.max(1, n));
  });
  const argmax = (xs: number[]) => xs.reduce((best, x, i) => (x > xs[best]! ? i : best), 0);
  return { id: rec.id, source: rec.source, sum, mean, predictedSum: argmax(sum), predictedMean: argmax(mean), answer: rec.answer };
}

/** Score every question (`scoreQuestion`) and summarise: accuracy by summed and by mean log-likelihood, exact match, per source. `onProgress` gets the number done. */
export async function evaluateMcq(model: GPT2, tok: Tokenizer, records: McqRecord[], onProgress?: (done: number) => void): Promise<McqReport> {
  const scores: McqScore[] = [];
  for (const rec of records) {
    scores.push(await scoreQuestion(model, tok, rec));
    onProgress?.(scores.length);
  }
  return summarize(scores);
}

export function summarize(scores: McqScore[]): McqReport {
  const bySource: McqReport['bySource'] = {};
  let okSum = 0, okMean = 0, exact = 0;
  for (const s of scores) {
    const a = s.answer.includes(s.predictedSum) ? 1 : 0;
    const b = s.answer.includes(s.predictedMean) ? 1 : 0;
    okSum += a;
    okMean += b;
    // exact match: the top-|answer| options by sum score are exactly the answer set
    const top = s.sum.map((v, i) => [v, i] as const).sort((x, y) => y[0] - x[0]).slice(0, s.answer.length).map(([, i]) => i).sort((x, y) => x - y);
    if (top.join() === [...s.answer].sort((x, y) => x - y).join()) exact++;
    const src = (bySource[s.source] ??= { questions: 0, accuracySum: 0, accuracyMean: 0 });
    src.questions++;
    src.accuracySum += a;
    src.accuracyMean += b;
  }
  for (const v of Object.values(bySource)) {
    v.accuracySum /= v.questions;
    v.accuracyMean /= v.questions;
  }
  const n = Math.max(1, scores.length);
  return { questions: scores.length, accuracySum: okSum / n, accuracyMean: okMean / n, exactMatch: exact / n, bySource, scores };
}

export function formatMcqReport(r: McqReport): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines = [
    `multiple choice: ${r.questions} questions | accuracy (sum log-lik) ${pct(r.accuracySum)} | (mean per token) ${pct(r.accuracyMean)} | exact match ${pct(r.exactMatch)}`,
  ];
  for (const [src, v] of Object.entries(r.bySource)) {
    lines.push(`  ${src}: ${v.questions} questions | sum ${pct(v.accuracySum)} | mean ${pct(v.accuracyMean)}`);
  }
  return lines.join('\n');
}
