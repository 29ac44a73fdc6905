// Multiple-choice evaluation by log-likelihood, batched: the option rows of many questions share
// one forward (rows of up to `maxTokens` tokens per forward, whole questions per batch), so a set is
// scored in one pass over the data with one readback per forward.
//
// Each option o of a question q (with its progressive-case context, see data/mcq-context) gets:
//   sum     log P(o | q), summed over o's tokens                     (lm-eval-harness `acc`)
//   mean    sum / number of o's tokens                               (per-token mean)
//   norm    sum / number of characters of o                          (lm-eval-harness `acc_norm`)
//   uncond  log P(o | q) - log P(o | "Answer:")                      (unconditional-normalised: lm-eval-harness's
//           `acc_mutual_info`, with the domain premise "Answer:" of Holtzman et al. 2021 as the unconditional
//           context rather than an empty one)
// The prediction of each scorer is its top option; metrics (accuracy, EMR, Hamming with chance
// levels, per source / chapter / single vs progressive) are in data/mcq-metrics.

import type { GPT2 } from '../model/gpt2';
import type { Tokenizer } from './tokenizer/types';
import type { McqRecord } from './data/mcq';
import { caseHistory, MCQ_PROMPT, MCQ_UNCONDITIONAL, questionRows } from './data/mcq-context';
import { argmax, formatMetricGroups, metricGroups, predictionFor, type McqMetricGroups } from './data/mcq-metrics';

export { MCQ_PROMPT };

/** The log-likelihood scorers, in report order. */
export const LOGLIK_SCORERS = ['sum', 'mean', 'norm', 'uncond'] as const;
/** One of LOGLIK_SCORERS. */
export type LoglikScorer = (typeof LOGLIK_SCORERS)[number];

/** One question's scores: each option's log-likelihood after the prompt, by scorer. */
export interface McqScore {
  /** The question id. */
  id: string;
  /** The question source. */
  source: string;
  /** Per option: summed log-likelihood of its tokens. */
  sum: number[];
  /** Per option: mean log-likelihood per token. */
  mean: number[];
  /** Per option: summed log-likelihood per character of the option (lm-eval acc_norm). */
  norm: number[];
  /** Per option: log P(option | question) - log P(option | "Answer:"). */
  uncond: number[];
  /** The option with the highest summed log-likelihood. */
  predictedSum: number;
  /** The option with the highest per-token mean. */
  predictedMean: number;
  /** The correct option indexes. */
  answer: number[];
}

/** Accuracy over a set of questions, overall and by source, and the full metrics of every scorer. */
export interface McqReport {
  /** Questions scored. */
  questions: number;
  /** Top-1 prediction (by summed / per-token mean log-likelihood) is in the answer set. */
  accuracySum: number;
  /** Top-1 accuracy by the per-token mean log-likelihood. */
  accuracyMean: number;
  /** Exact match ratio of the summed log-likelihood's top option (= accuracy on single-answer questions). */
  exactMatch: number;
  /** The same figures per source. */
  bySource: Record<string, { questions: number; accuracySum: number; accuracyMean: number }>;
  /** Full metrics per scorer. */
  metrics: Record<LoglikScorer, McqMetricGroups>;
  /** Every question's scores. */
  scores: McqScore[];
}

/** Options of log-likelihood scoring. */
export interface LoglikOptions {
  /** Tokens per forward (B*T); default 8192. */
  maxTokens?: number;
  /** Called after each forward with the number of questions scored so far. */
  onProgress?: (done: number) => void;
}

interface Row {
  q: number;
  option: number;
  uncond: boolean;
  seq: number[];
  /** Index in seq of the option's first token. */
  start: number;
}

/** Score every option of every record by log-likelihood, many questions per forward. */
export async function scoreByLoglik(model: GPT2, tok: Tokenizer, records: readonly McqRecord[], opts: LoglikOptions = {}): Promise<McqScore[]> {
  const maxT = model.config.nPositions;
  const history = caseHistory(records);
  const uncondPrompt = tok.encode(MCQ_UNCONDITIONAL);
  const perQ: Row[][] = records.map((rec, q) => {
    const r = questionRows(tok, rec, history[q]!, maxT + 1); // inputs are seq[0..L-2]: at most maxT
    const rows: Row[] = r.rows.map((seq, o) => ({ q, option: o, uncond: false, seq, start: r.optionStart[o]! }));
    rec.options.forEach((o, i) => {
      const ot = tok.encode(` ${o}`).slice(0, maxT);
      const p = uncondPrompt.slice(Math.max(0, uncondPrompt.length - (maxT + 1 - ot.length)));
      rows.push({ q, option: i, uncond: true, seq: [...p, ...ot], start: p.length });
    });
    return rows;
  });
  let T = 1;
  for (const rows of perQ) for (const r of rows) T = Math.max(T, r.seq.length - 1);
  const maxRows = Math.max(1, Math.floor((opts.maxTokens ?? 8192) / T));
  const cond = records.map((r) => r.options.map(() => ({ sum: 0, n: 0 })));
  const unc = records.map((r) => r.options.map(() => 0));
  let done = 0;
  for (let q0 = 0; q0 < records.length; ) {
    // whole questions, up to maxRows rows (a larger question goes alone)
    const rows: Row[] = [];
    let q1 = q0;
    while (q1 < records.length && (rows.length === 0 || rows.length + perQ[q1]!.length <= maxRows)) rows.push(...perQ[q1++]!);
    const B = rows.length;
    const inputs = new Int32Array(B * T).fill(tok.eotToken);
    const targets = new Int32Array(B * T).fill(-1);
    rows.forEach((r, b) => {
      for (let t = 0; t < r.seq.length - 1; t++) {
        inputs[b * T + t] = r.seq[t]!;
        if (t + 1 >= r.start) targets[b * T + t] = r.seq[t + 1]!;
      }
    });
    await model.forward(inputs, targets, B, T);
    const losses = await model.positionLosses();
    rows.forEach((r, b) => {
      let s = 0, n = 0;
      for (let t = r.start - 1; t < r.seq.length - 1; t++) { s -= losses[b * T + t]!; n++; }
      if (r.uncond) unc[r.q]![r.option] = s;
      else cond[r.q]![r.option] = { sum: s, n };
    });
    done = q1;
    opts.onProgress?.(done);
    q0 = q1;
  }
  return records.map((rec, q) => {
    const sum = cond[q]!.map((c) => c.sum);
    const mean = cond[q]!.map((c) => c.sum / Math.max(1, c.n));
    const norm = cond[q]!.map((c, i) => c.sum / Math.max(1, rec.options[i]!.length));
    const uncond = cond[q]!.map((c, i) => c.sum - unc[q]![i]!);
    return { id: rec.id, source: rec.source, sum, mean, norm, uncond, predictedSum: argmax(sum), predictedMean: argmax(mean), answer: rec.answer };
  });
}

/** Score one question by log-likelihood (all its options in one forward). */
export async function scoreQuestion(model: GPT2, tok: Tokenizer, rec: McqRecord): Promise<McqScore> {
  return (await scoreByLoglik(model, tok, [rec]))[0]!;
}

/** Score `records` by log-likelihood and summarise: accuracy, EMR and Hamming per scorer, source, chapter and kind. */
export async function evaluateMcq(model: GPT2, tok: Tokenizer, records: readonly McqRecord[], onProgress?: (done: number) => void, opts: LoglikOptions = {}): Promise<McqReport> {
  return summarize(records, await scoreByLoglik(model, tok, records, { ...opts, onProgress }));
}

/** The report of a scored set (see evaluateMcq). */
export function summarize(records: readonly McqRecord[], scores: McqScore[]): McqReport {
  const metrics = Object.fromEntries(
    LOGLIK_SCORERS.map((k) => [k, metricGroups(records.map((r, q) => predictionFor(r, scores[q]![k])), 'single')]),
  ) as Record<LoglikScorer, McqMetricGroups>;
  const bySource: McqReport['bySource'] = {};
  for (const [src, m] of Object.entries(metrics.sum.bySource)) {
    bySource[src] = { questions: m.questions, accuracySum: m.accuracy, accuracyMean: metrics.mean.bySource[src]!.accuracy };
  }
  return {
    questions: records.length,
    accuracySum: metrics.sum.overall.accuracy,
    accuracyMean: metrics.mean.overall.accuracy,
    exactMatch: metrics.sum.overall.emr,
    bySource,
    metrics,
    scores,
  };
}

const SCORER_TITLE: Record<LoglikScorer, string> = {
  sum: 'log-likelihood, summed (lm-eval acc)',
  mean: 'log-likelihood, per-token mean',
  norm: 'log-likelihood per character (lm-eval acc_norm)',
  uncond: 'log P(option | question) - log P(option | "Answer:") (unconditional-normalised)',
};

/** The report as text lines: the headline accuracies, then with `full` every scorer's groups with chance levels. */
export function formatMcqReport(r: McqReport, full = false): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const o = r.metrics.sum.overall;
  const lines = [
    `multiple choice: ${r.questions} questions | accuracy (sum log-lik) ${pct(r.accuracySum)} | (mean per token) ${pct(r.accuracyMean)} | ` +
      `(per char) ${pct(r.metrics.norm.overall.accuracy)} | (unconditional-normalised) ${pct(r.metrics.uncond.overall.accuracy)} | chance ${pct(o.chance.accuracy)}`,
  ];
  if (!full) {
    for (const [src, v] of Object.entries(r.bySource)) lines.push(`  ${src}: ${v.questions} questions | sum ${pct(v.accuracySum)} | mean ${pct(v.accuracyMean)}`);
    return lines.join('\n');
  }
  for (const k of LOGLIK_SCORERS) lines.push(...formatMetricGroups(SCORER_TITLE[k], r.metrics[k]));
  return lines.join('\n');
}
