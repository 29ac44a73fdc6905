// Multiple-choice metrics: accuracy, exact match ratio and Hamming score (FrenchMedMCQA's official
// pair), overall, per source, per chapter and for single vs progressive questions, each with the
// chance level of a uniformly random predictor of the same kind beside it.
//
// For one question with gold set G and predicted set P (never empty):
//   accuracy  = 1 when the top-scored option is in G
//   EMR       = 1 when P equals G                                   (exact match ratio)
//   Hamming   = |P ∩ G| / |P ∪ G|                                   (Hamming score)
// each averaged over questions. P is {top-scored option} for single-answer scorers (the
// multiple-choice head, log-likelihood ranking), or {options whose logit > 0} for the proposition
// head ({top-scored option} when no logit is positive).
//
// Chance: accuracy |G|/n; a single-answer predictor picking one option uniformly has EMR [|G| = 1]/n
// and Hamming 1/n; a set predictor picking one of the 2^n - 1 non-empty subsets uniformly has EMR
// 1/(2^n - 1) and Hamming the mean Jaccard index over those subsets (enumerated).

import type { McqRecord } from './mcq';

/** 'single': the top option is the prediction; 'set': every option with a positive logit. */
export type PredictionKind = 'single' | 'set';

/** One question's option scores with what the metrics group it by. */
export interface McqPrediction {
  /** The question id. */
  id: string;
  /** The question source. */
  source: string;
  /** The question chapter (subject). */
  chapter: string;
  /** Part of a progressive case (has a case id). */
  progressive: boolean;
  /** One score per option, higher is better (for 'set': a logit, > 0 means "correct"). */
  scores: number[];
  /** Gold option indexes, sorted. */
  answer: number[];
}

/** The metrics of a group of questions, with the chance level of each. */
export interface McqMetrics {
  /** Questions in the group. */
  questions: number;
  /** Share of questions whose top-scored option is correct. */
  accuracy: number;
  /** Exact match ratio: share of questions whose predicted set equals the gold set. */
  emr: number;
  /** Hamming score: mean of |predicted ∩ gold| / |predicted ∪ gold|. */
  hamming: number;
  /** The same three for a uniformly random predictor of the same kind. */
  chance: { accuracy: number; emr: number; hamming: number };
}

/** Metrics overall, per source, per chapter and for single vs progressive questions. */
export interface McqMetricGroups {
  /** Every question. */
  overall: McqMetrics;
  /** Per source. */
  bySource: Record<string, McqMetrics>;
  /** Per chapter. */
  byChapter: Record<string, McqMetrics>;
  /** Single questions vs questions of progressive cases (a key is absent when it has no questions). */
  byKind: { single?: McqMetrics; progressive?: McqMetrics };
}

/** A record's prediction from its option scores. */
export function predictionFor(rec: McqRecord, scores: number[]): McqPrediction {
  return { id: rec.id, source: rec.source, chapter: rec.chapter, progressive: rec.caseId !== undefined, scores, answer: rec.answer };
}

/** Index of the largest value (the first on ties). */
export function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** The predicted set for a question's scores, sorted. */
export function predictedSet(scores: ArrayLike<number>, kind: PredictionKind): number[] {
  if (kind === 'single') return [argmax(scores)];
  const p: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i]! > 0) p.push(i);
  return p.length ? p : [argmax(scores)];
}

/** |P ∩ G| / |P ∪ G| for sorted or unsorted index sets. */
export function jaccard(p: readonly number[], g: readonly number[]): number {
  const gs = new Set(g);
  const inter = p.filter((i) => gs.has(i)).length;
  return inter / (new Set([...p, ...g]).size || 1);
}

const setChanceCache = new Map<string, { emr: number; hamming: number }>();

/** Chance EMR and Hamming of a uniform non-empty-subset predictor over n options for gold set g. */
function setChance(n: number, g: readonly number[]): { emr: number; hamming: number } {
  if (n > 20) throw new RangeError(`set chance: ${n} options is too many to enumerate`);
  const key = `${n}:${g.length}`; // by symmetry it depends only on n and |G|
  let c = setChanceCache.get(key);
  if (!c) {
    const gm = (1 << g.length) - 1; // gold as the first |G| options
    let h = 0;
    for (let m = 1; m < 1 << n; m++) h += popcount(m & gm) / popcount(m | gm);
    c = { emr: 1 / ((1 << n) - 1), hamming: h / ((1 << n) - 1) };
    setChanceCache.set(key, c);
  }
  return c;
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** Metrics of a group of predictions (see the header for the definitions). */
export function metricsOf(preds: readonly McqPrediction[], kind: PredictionKind): McqMetrics {
  let acc = 0, emr = 0, ham = 0, cAcc = 0, cEmr = 0, cHam = 0;
  for (const q of preds) {
    const n = q.scores.length, g = q.answer;
    const p = predictedSet(q.scores, kind);
    if (g.includes(argmax(q.scores))) acc++;
    const j = jaccard(p, g);
    if (j === 1) emr++;
    ham += j;
    cAcc += g.length / n;
    if (kind === 'single') {
      cEmr += g.length === 1 ? 1 / n : 0;
      cHam += 1 / n;
    } else {
      const c = setChance(n, g);
      cEmr += c.emr;
      cHam += c.hamming;
    }
  }
  const N = preds.length || 1;
  return { questions: preds.length, accuracy: acc / N, emr: emr / N, hamming: ham / N, chance: { accuracy: cAcc / N, emr: cEmr / N, hamming: cHam / N } };
}

function groupBy(preds: readonly McqPrediction[], key: (p: McqPrediction) => string, kind: PredictionKind): Record<string, McqMetrics> {
  const groups = new Map<string, McqPrediction[]>();
  for (const p of preds) {
    const k = key(p);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = []));
    g.push(p);
  }
  return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, g]) => [k, metricsOf(g, kind)]));
}

/** Metrics overall and by source, chapter and kind. */
export function metricGroups(preds: readonly McqPrediction[], kind: PredictionKind): McqMetricGroups {
  const byKind = groupBy(preds, (p) => (p.progressive ? 'progressive' : 'single'), kind);
  return {
    overall: metricsOf(preds, kind),
    bySource: groupBy(preds, (p) => p.source, kind),
    byChapter: groupBy(preds, (p) => p.chapter, kind),
    byKind: { single: byKind.single, progressive: byKind.progressive },
  };
}

/** Text lines: every group with its metrics and the chance level in parentheses. */
export function formatMetricGroups(title: string, g: McqMetricGroups): string[] {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const row = (name: string, m: McqMetrics) =>
    `${name.padEnd(28)} ${String(m.questions).padStart(5)} q | accuracy ${pct(m.accuracy)} (chance ${pct(m.chance.accuracy)}) | EMR ${pct(m.emr)} (chance ${pct(m.chance.emr)}) | Hamming ${pct(m.hamming)} (chance ${pct(m.chance.hamming)})`;
  const lines = [`${title}`, row('  all', g.overall)];
  for (const [k, m] of Object.entries(g.byKind)) if (m) lines.push(row(`  ${k}`, m));
  for (const [k, m] of Object.entries(g.bySource)) lines.push(row(`  source ${k}`, m));
  for (const [k, m] of Object.entries(g.byChapter)) lines.push(row(`  chapter ${k.length > 19 ? k.slice(0, 18) + '…' : k}`, m));
  return lines;
}
