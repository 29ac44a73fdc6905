// Fine-tuning and evaluating a model with a multiple-choice / proposition head (browser-safe):
// questions to option rows (with progressive-case context), batches of many questions per
// forward (and the resumable shuffled batcher), one training step, scoring a whole set and its
// loss. The Node library function wraps it with files, the shared training loop and the run
// lifecycle (finetune-mcq.node.ts); `mqg finetune-mcq` is src/cli/finetune-mcq.ts.

import type { GPT2 } from '../model/gpt2';
import type { Tokenizer } from './tokenizer/types';
import type { McqRecord } from './data/mcq';
import { caseHistory, questionRows, type QuestionRows } from './data/mcq-context';
import { metricGroups, predictionFor, type McqMetricGroups, type McqPrediction, type PredictionKind } from './data/mcq-metrics';
import { headBatch, type HeadBatch, type HeadKind, type HeadTrainOptions, type McHead } from '../model/mc-head';
import { Rng } from '../util/rng';

export interface McqItem {
  rec: McqRecord;
  rows: QuestionRows;
}

/** Every record's option rows (at most maxT tokens each), its case's earlier questions as context. */
export function prepareItems(tok: Tokenizer, records: readonly McqRecord[], maxT: number): McqItem[] {
  const history = caseHistory(records);
  return records.map((rec, i) => ({ rec, rows: questionRows(tok, rec, history[i]!, maxT) }));
}

/** The longest row of a set: the T every batch of it uses (one shape, one set of bind groups). */
export function rowLength(items: readonly McqItem[]): number {
  let T = 1;
  for (const it of items) for (const r of it.rows.rows) T = Math.max(T, r.length);
  return T;
}

export function itemsBatch(items: readonly McqItem[], T: number, pad: number): HeadBatch {
  return headBatch(items.map((i) => i.rows), items.map((i) => i.rec.answer), T, pad);
}

/** One optimiser step of the head (and the body unless frozen) on a batch of questions; the mean loss. */
export async function headTrainStep(model: GPT2, head: McHead, batch: HeadBatch, opts: HeadTrainOptions): Promise<number> {
  return head.step(model, batch, opts);
}

export function predictionKind(head: McHead): PredictionKind {
  return head.kind === 'proposition' ? 'set' : 'single';
}

/**
 * Score every question by the head, `maxRows` option rows per forward (questions are not split);
 * returns one prediction per item, in order.
 */
export async function scoreByHead(
  model: GPT2, head: McHead, items: readonly McqItem[], pad: number, maxRows = 512, T = rowLength(items), onProgress?: (done: number) => void,
): Promise<McqPrediction[]> {
  const out: McqPrediction[] = [];
  for (const chunk of chunkByRows(items, maxRows)) {
    const batch = itemsBatch(chunk, T, pad);
    await head.step(model, batch);
    const s = await head.scores(batch.B);
    chunk.forEach((it, q) => out.push(predictionFor(it.rec, Array.from(s.subarray(batch.groups[q]!, batch.groups[q + 1]!)))));
    onProgress?.(out.length);
  }
  return out;
}

/** Consecutive groups of whole questions with at most maxRows rows each (a larger question alone). */
export function chunkByRows<T extends { rows: QuestionRows }>(items: readonly T[], maxRows: number): T[][] {
  const chunks: T[][] = [];
  let cur: T[] = [], rows = 0;
  for (const it of items) {
    const n = it.rows.rows.length;
    if (cur.length && rows + n > maxRows) {
      chunks.push(cur);
      cur = [];
      rows = 0;
    }
    cur.push(it);
    rows += n;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

/** Validation metrics of the head on a set. */
export async function evaluateHead(model: GPT2, head: McHead, items: readonly McqItem[], pad: number, maxRows?: number): Promise<McqMetricGroups> {
  return metricGroups(await scoreByHead(model, head, items, pad, maxRows), predictionKind(head));
}

export interface BatcherState { epoch: number; pos: number }

/** Questions in a shuffled order per epoch (a permutation seeded by (seed, epoch)), batchSize per step. */
export class McqBatcher {
  private order: number[] = [];
  state: BatcherState = { epoch: 0, pos: 0 };
  constructor(private readonly items: McqItem[], private readonly batchSize: number, private readonly T: number, private readonly pad: number, private readonly seed: number) {
    this.shuffle();
  }
  private shuffle(): void {
    const rng = new Rng((this.seed ^ Math.imul(this.state.epoch + 1, 0x9e3779b1)) >>> 0);
    this.order = this.items.map((_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [this.order[i], this.order[j]] = [this.order[j]!, this.order[i]!];
    }
  }
  restore(s: BatcherState): void {
    this.state = { ...s };
    this.shuffle();
  }
  nextBatch(): HeadBatch {
    const chosen: McqItem[] = [];
    while (chosen.length < Math.min(this.batchSize, this.items.length)) {
      if (this.state.pos >= this.order.length) {
        this.state = { epoch: this.state.epoch + 1, pos: 0 };
        this.shuffle();
      }
      chosen.push(this.items[this.order[this.state.pos++]!]!);
    }
    return itemsBatch(chosen, this.T, this.pad);
  }
}

/** The head's mean validation loss from its scores (the training loss, without a readback per chunk). */
export function headValLoss(preds: { scores: number[]; answer: number[] }[], kind: HeadKind): number {
  let sum = 0, n = 0;
  for (const p of preds) {
    if (kind === 'proposition') {
      p.scores.forEach((s, i) => { sum += Math.max(s, 0) + Math.log1p(Math.exp(-Math.abs(s))) - (p.answer.includes(i) ? s : 0); n++; });
    } else {
      const m = Math.max(...p.scores);
      const lse = m + Math.log(p.scores.reduce((a, s) => a + Math.exp(s - m), 0));
      sum += lse - p.answer.reduce((a, i) => a + p.scores[i]!, 0) / p.answer.length;
      n++;
    }
  }
  return sum / Math.max(1, n);
}
