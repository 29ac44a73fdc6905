// Tuning every kernel with a per-adapter choice on one model's shapes, and the first-use hook.
//
// autoTune(gpu, config, B, T) tunes matmul on every distinct GEMM of that model's training step,
// each weighted by how often a step runs it (modelTuneShapes, matmul.ts), its attention layout
// (attention.ts) and its row kernels' layouts (rows.ts), or returns the recorded choices when
// there are. autoTuneOnce is the hook that runs where a model is prepared for training or
// inference (GPT2.prepare), once per context: what has no record yet is tuned (with progress
// lines: matmul on an adapter's first use, attention on a new head size, the row kernels on a new
// width or vocabulary; tuningMessage) and every later use reads the records; `mqg tune` runs autoTune explicitly and prints
// the tables.

import type { GPUContext } from '../../gpu/context';
import { variantName, type MatmulVariant } from '../matmul-wgsl';
import { type MatmulTuneRecord, matmulChoice } from '../matmul';
import { type AttentionTuneRecord, type SubgroupVariant, attentionChoice, attentionVariantName, subgroupAttentionAvailable } from '../attention';
import { type LayernormLayout, layernormLayoutName } from '../layernorm';
import { type TuneModelShape, modelTuneShapes, tuneMatmul } from './matmul';
import { attentionCandidates, tuneAttention } from './attention';
import { type RowTuneResult, rowTuneRecords, tuneRowKernels } from './rows';
import { tuneKey } from './store';

export interface AutoTuneOptions {
  /** Progress lines; default none. */
  onProgress?: (line: string) => void;
  /** Time again even if this adapter has a record. */
  force?: boolean;
  /** Matmul candidates (default matmulCandidates(gpu)). */
  candidates?: MatmulVariant[];
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Attention candidates (default attentionCandidates(gpu, hs)). */
  attentionCandidates?: SubgroupVariant[];
  /** Row-kernel candidates (default: layernormCandidates(gpu), CROSS_ENTROPY_WORKGROUPS). */
  layernormCandidates?: LayernormLayout[];
  crossEntropyCandidates?: number[];
}

export interface AutoTuneResult {
  /** The store key: adapter, driver, library and tuning versions. */
  key: string;
  matmul: MatmulTuneRecord;
  /** The attention layout chosen for the model's head size; absent where there is no choice (see tuneAttention). */
  attention?: AttentionTuneRecord;
  /** The row kernels' layouts for the model's width and vocabulary (tuneRowKernels). */
  rows: RowTuneResult;
  /** True when the records already existed and nothing was timed. */
  cached: boolean;
}

/**
 * Tune the kernels with choices for this adapter on the shapes of this model at (B, T), or return
 * the recorded choices when there are (nothing timed): matmul on the model's GEMM shapes, and with
 * config.nHead the attention layout on its attention shape (tuneAttention: software adapters with
 * subgroups only), and the row kernels' layouts (layernorm for nEmbd, cross-entropy for
 * paddedVocabSize: tuneRowKernels).
 */
export async function autoTune(gpu: GPUContext, config: TuneModelShape, B: number, T: number, options: AutoTuneOptions = {}): Promise<AutoTuneResult> {
  if (options.attentionCandidates && !config.nHead) throw new RangeError('autoTune: attentionCandidates given, but the config has no nHead to tune attention for');
  const key = tuneKey(gpu);
  const cachedMatmul = options.force ? undefined : matmulChoice.record(gpu);
  const hs = config.nHead ? config.nEmbd / config.nHead : 0;
  const cachedAttention = options.force || !hs ? undefined : attentionChoice.record(gpu, hs);
  const matmul = cachedMatmul ?? await tuneMatmul(gpu, {
    force: true,
    candidates: options.candidates,
    persist: options.persist,
    shapes: modelTuneShapes(config, B, T),
    log: options.onProgress,
  });
  const attention = !config.nHead
    ? undefined
    : cachedAttention ?? await tuneAttention(gpu, { B, T, C: config.nEmbd, NH: config.nHead }, {
      force: true, persist: options.persist, candidates: options.attentionCandidates, log: options.onProgress,
    });
  const rowShape = { BT: B * T, C: config.nEmbd, Vp: config.paddedVocabSize };
  const cachedRows = options.force ? undefined : rowTuneRecords(gpu, rowShape);
  const rows = cachedRows ?? await tuneRowKernels(gpu, rowShape, {
    force: true, persist: options.persist, layernormCandidates: options.layernormCandidates, crossEntropyCandidates: options.crossEntropyCandidates, log: options.onProgress,
  });
  return { key, matmul, attention, rows, cached: !!cachedMatmul && (!attentionToTune(gpu, config) || !!cachedAttention) && !!cachedRows };
}

/** Whether this model's attention has a layout choice here (and none is forced). */
function attentionToTune(gpu: GPUContext, config: TuneModelShape): boolean {
  if (!config.nHead) return false;
  const hs = config.nEmbd / config.nHead;
  return Number.isInteger(hs) && subgroupAttentionAvailable(gpu, hs) && attentionChoice.forced(gpu) === undefined && attentionCandidates(gpu, hs).length > 0;
}

const autoTuned = new WeakMap<GPUContext, Promise<void>>();

/** Whether the first-use hook tunes: not with MQG_AUTOTUNE=0, nor under vitest unless MQG_AUTOTUNE=1. */
export function autoTuneEnabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  if (env.MQG_AUTOTUNE === '0') return false;
  return env.MQG_AUTOTUNE === '1' || !env.VITEST;
}

/**
 * The first-use hook (GPT2.prepare): tunes once per context (see autoTune) with progress lines on
 * stderr, unless the records exist; a tuning failure keeps the defaults and says so.
 */
export function autoTuneOnce(gpu: GPUContext, config: TuneModelShape, B: number, T: number): Promise<void> {
  let p = autoTuned.get(gpu);
  if (!p) {
    p = firstUse(gpu, config, B, T);
    autoTuned.set(gpu, p);
  }
  return p;
}

/** What the first-use hook found unrecorded for one model on one adapter. */
export interface TuningNeeds {
  matmul: boolean;
  attention: boolean;
  rows: boolean;
}

/**
 * The line the first-use hook prints before tuning: what is tuned, and what each record is keyed
 * by, so that a new model shape re-tuning on an adapter tuned before reads as expected. matmul is
 * recorded per adapter and driver (its records hold every shape); attention per head size and
 * precision; the row kernels per width, vocabulary and precision.
 */
export function tuningMessage(adapterName: string, needs: TuningNeeds, shape: { hs: number; C: number; Vp: number; precision: string }): string {
  const what = [needs.matmul ? 'matmul' : '', needs.attention ? 'attention' : '', needs.rows ? 'the row kernels' : ''].filter((x) => x).join(', ');
  const keys = [
    needs.attention ? `head size ${shape.hs}` : '',
    needs.rows ? `width ${shape.C}, vocab ${shape.Vp}` : '',
  ].filter((x) => x).join(', ');
  const first = needs.matmul
    ? `first use of ${adapterName}`
    : `first use of this model shape on ${adapterName} (${keys}, ${shape.precision})`;
  return `mqg: ${first}: tuning ${what} (matmul once per adapter and driver; attention once per head size and precision; ` +
    `the row kernels once per width, vocab and precision; \`mqg tune\` redoes it, MQG_AUTOTUNE=0 skips it)`;
}

async function firstUse(gpu: GPUContext, config: TuneModelShape, B: number, T: number): Promise<void> {
  if (!autoTuneEnabled()) return;
  const hs = config.nHead ? config.nEmbd / config.nHead : 0;
  const needs: TuningNeeds = {
    matmul: !matmulChoice.record(gpu),
    attention: attentionToTune(gpu, config) && !attentionChoice.record(gpu, hs),
    rows: !rowTuneRecords(gpu, { C: config.nEmbd, Vp: config.paddedVocabSize }),
  };
  if (!needs.matmul && !needs.attention && !needs.rows) return;
  const say = (line: string) => console.error(line);
  say(tuningMessage(gpu.adapterName, needs, { hs, C: config.nEmbd, Vp: config.paddedVocabSize, precision: gpu.precision }));
  try {
    const r = await autoTune(gpu, config, B, T, { onProgress: (l) => /candidate|rejected|failed/.test(l) && say(l) });
    if (needs.matmul) say(`mqg: matmul variant ${variantName(r.matmul.variant)} chosen for this adapter`);
    if (needs.attention && r.attention) say(`mqg: attention layout ${attentionVariantName(r.attention.variant)} chosen for hs=${hs}`);
    if (needs.rows) say(`mqg: layernorm layout ${layernormLayoutName(r.rows.layernorm.variant)} and cross-entropy wg${r.rows.crossEntropy.variant} chosen for width ${config.nEmbd}, vocab ${config.paddedVocabSize}`);
  } catch (e) {
    say(`mqg: kernel tuning failed (${(e as Error).message}); using the default variants`);
  }
}
