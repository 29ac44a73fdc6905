// GPU memory of a GPT-2, by category, for (config, B, T, precision), computed the way GPT2 allocates
// it (gpt2.ts: ParamStore banks, allocate(B, T), generate.ts's KV cache), so a configuration that
// does not fit is refused before anything is allocated. Pure and browser-safe.
//
//   weights           the compute weights: f32 master banks (f32), f16 copies (f16); with quantize,
//                     the block matmul weights as GGML blocks (quantized.ts) instead of in the banks
//   masterWeights     the f32 master weights AdamW updates, where separate from the compute ones (f16 training)
//   gradients         f32 parameter gradients (training)
//   adamMoments       AdamW m and v, f32 (training)
//   activations       what the forward pass keeps for the backward, per layer and final ([B,T,...])
//   logitsChunk       one chunk of logits rows [chunkRows, Vp] (the classifier runs chunk by chunk)
//   activationGrads   the activation-gradient buffers (dresidual and its f16 copy, dln, dfch, dqkv, attention delta, LN scratch)
//   kvCache           generation: per layer [nPositions, 3C] (sampling one sequence)
//   other             small buffers (decay masks, reduction scratch, batch ids, encoder plan)
// Buffers are rounded as GPUContext.createBuffer rounds them (16-byte multiples, at least 16).

import type { GPT2Config } from './config';
import { paramShapes } from './config';
import { layoutParams } from './params';
import { reduceScratchSize as reduceScratch } from '../kernels/reduce';
import { layernormBackwardScratchSize as layernormScratch } from '../kernels/layernorm';
import { loraMemory } from './lora-memory';
import type { LoraConfig } from './peft';
import { MQGError } from '../util/errors';
import { quantizedBaseBytes, quantizedLayout, type QuantType } from './quantized';

export const MEMORY_CATEGORIES = ['weights', 'masterWeights', 'gradients', 'adamMoments', 'activations', 'logitsChunk', 'activationGrads', 'kvCache', 'other'] as const;
export type MemoryCategory = (typeof MEMORY_CATEGORIES)[number];
export type MemoryPlan = Record<MemoryCategory, number> & { total: number; chunkRows: number };

export interface MemoryPlanInput {
  config: GPT2Config;
  /** Batch shape of allocate(B, T) (for inference: of forward(); generation uses the KV cache). */
  B: number;
  T: number;
  precision: 'f16' | 'f32';
  /** Gradients and optimiser state (default true). */
  training?: boolean;
  /** Include generation's KV cache (default: !training). */
  generation?: boolean;
  /** The device's maxStorageBufferBindingSize (WebGPU's default 128 MiB). */
  maxBindingBytes?: number;
  /** As ModelOptions.maxBankElements. */
  maxBankElements?: number;
  /** As ModelOptions.lora: a frozen base (weights only) plus f32 adapters with gradients and moments. */
  lora?: LoraConfig;
  /** As ModelOptions.checkpointActivations: one block's activations plus each block's output. */
  checkpointActivations?: boolean;
  /** As ModelOptions.quantize: the block matmul weights GGML-quantized (a frozen base: inference or LoRA). */
  quantize?: QuantType;
}

export const DEFAULT_MAX_BINDING = 128 * 2 ** 20;
const buf = (bytes: number) => Math.ceil(Math.max(bytes, 16) / 16) * 16;

/** The logits chunk rows GPT2.allocate picks for B*T rows of Vp columns. */
export function logitsChunkRows(BT: number, Vp: number, elt: number, maxBinding: number): number {
  let chunkRows = Math.min(BT, Math.floor(maxBinding / (Vp * elt)));
  if (chunkRows < BT) chunkRows = Math.max(128, Math.floor(chunkRows / 128) * 128);
  return chunkRows;
}

/** Bytes per category; see the header. */
export function memoryPlan(i: MemoryPlanInput): MemoryPlan {
  const c = i.config;
  const training = i.training ?? true;
  const generation = i.generation ?? !training;
  const f16 = i.precision === 'f16';
  const elt = f16 ? 2 : 4;
  const maxBinding = i.maxBindingBytes ?? DEFAULT_MAX_BINDING;
  const { nLayer: L, nEmbd: C, nHead: NH, paddedVocabSize: Vp, nPositions, nInner: H } = c;

  // parameter banks, laid out as ParamStore lays them out
  // wte and an untied lm_head hold the padded vocab's rows (gpt2.ts VOCAB_ROWS)
  if (i.quantize && training && !i.lora) throw new MQGError(`quantize ${i.quantize}: a quantized base is frozen: plan inference, or LoRA training`);
  const quantized = new Set(i.quantize ? quantizedLayout(c).quantized.map((w) => w.name) : []);
  const shapes = paramShapes(c)
    .filter((p) => !quantized.has(p.name))
    .map((p) => (p.name === 'wte.weight' || p.name === 'lm_head.weight' ? { ...p, shape: [Vp, C] } : p));
  const device = Math.floor(maxBinding / 4 / 128) * 128;
  const { bankSizes } = layoutParams(shapes, Math.min(device, i.maxBankElements ?? device));
  const banks = (e: number) => bankSizes.reduce((n, b) => n + buf(b * e), 0);
  const p: MemoryPlan = { weights: 0, masterWeights: 0, gradients: 0, adamMoments: 0, activations: 0, logitsChunk: 0, activationGrads: 0, kvCache: 0, other: 0, total: 0, chunkRows: 0 };
  p.weights = (f16 ? banks(2) : banks(4)) + (i.quantize ? quantizedBaseBytes(c, i.quantize) : 0);
  const lora = i.lora ? loraMemory(c, i.lora, i.B * i.T, maxBinding, training, elt) : undefined;
  if (lora) {
    // the frozen base keeps its compute weights only; the adapters' f32 weights are their master copy
    p.masterWeights = lora.weights;
    p.gradients = lora.gradients;
    p.adamMoments = lora.adamMoments;
    p.other += lora.other;
  } else if (training) {
    if (f16) p.masterWeights = banks(4);
    p.gradients = banks(4);
    p.adamMoments = 2 * banks(4);
    p.other += bankSizes.reduce((n, b) => n + buf(4 * Math.max(1, Math.ceil(b / 32))), 0); // decay masks
  }
  // model-level buffers: AdamW hyper [16], grad norm [1], norm scratch, norm parts, loss scale [4]
  const largest = Math.max(...bankSizes);
  p.other += buf(16 * 4) + buf(4) + buf(4 * reduceScratch(largest)) + (bankSizes.length > 1 ? buf(4 * bankSizes.length * 64) : 0) + buf(16);

  // activations of allocate(B, T)
  const BT = i.B * i.T;
  const t = (n: number, e = elt) => buf(n * e);
  // ln1, atty, ln2 [B,T,C]; the residual stream residual2, residual3 [B,T,C] in f32 (f16 would
  // overflow it); qkv [B,T,3C]; fch, fchGelu [B,T,n_inner]; ln1/ln2 mean and rstd [B,T] f32;
  // lse [B,NH,T] f32
  const perLayer = 3 * t(BT * C) + 2 * t(BT * C, 4) + t(BT * 3 * C) + 2 * t(BT * H) + 4 * t(BT, 4) + t(i.B * NH * i.T, 4);
  // encoded and the one attproj/fcproj scratch (f32), lnf; lnf mean/rstd, losses
  p.activations = L * perLayer + 2 * t(BT * C, 4) + t(BT * C) + 3 * t(BT, 4);
  if (i.checkpointActivations) p.activations -= (L - 1) * (perLayer - t(BT * C, 4)); // one block's set; every block keeps residual3
  if (lora) {
    p.activations += lora.activations;
    p.activationGrads += lora.activationGrads;
  }
  p.chunkRows = logitsChunkRows(BT, Vp, elt, maxBinding);
  p.logitsChunk = t(p.chunkRows * Vp);
  // dresidual (f32) and, in f16, its f16 copy for the c_proj matmuls; dln, dfch, dqkv, attention delta, LN scratch
  p.activationGrads += t(BT * C, 4) + (f16 ? t(BT * C, 2) : 0) + t(BT * C) + t(BT * H) + t(BT * 3 * C) + t(i.B * NH * i.T, 4) + t(layernormScratch(BT, C), 4);
  // inputs, targets [B,T] i32, loss sum, loss scratch, encoder backward plan (3 u32 [BT] buffers)
  p.other += 2 * t(BT, 4) + buf(4) + buf(4 * reduceScratch(BT)) + 2 * t(BT, 4) + t(BT + 1, 4);

  if (generation) {
    // generate.ts: per-layer caches; token, wpe row, 3 residual rows (f32), ln row, mean, rstd, qkv, atty, proj (f32), fch, fchGelu, logits
    p.kvCache = L * t(nPositions * 3 * C) + buf(4) + t(C) + 3 * t(C, 4) + t(C) + 2 * buf(4) + t(3 * C) + t(C) + t(C, 4) + 2 * t(H) + t(Vp);
  }
  p.total = MEMORY_CATEGORIES.reduce((n, k) => n + p[k], 0);
  return p;
}

/** The largest batch B (at sequence length T) whose training (or inference) plan fits `budget`; 0 if none. */
export function largestFittingBatch(i: Omit<MemoryPlanInput, 'B'>, budget: number): number {
  if (memoryPlan({ ...i, B: 1 }).total > budget) return 0;
  let lo = 1, hi = 2;
  while (memoryPlan({ ...i, B: hi }).total <= budget && hi < 1 << 20) hi *= 2;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (memoryPlan({ ...i, B: mid }).total <= budget) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Alternatives to suggest when a training configuration does not fit. Other helpers add theirs
 *  (e.g. LoRA: the frozen base needs no gradients or moments) with registerMemoryAlternative. */
export type MemoryAlternative = (i: MemoryPlanInput, budget: number) => string | undefined;
const alternatives: MemoryAlternative[] = [
  (i, budget) => {
    const B = largestFittingBatch({ ...i, training: true }, budget);
    if (B > 0) return `--batch-size ${B} at --seq-len ${i.T} (B*T = ${B * i.T}) fits`;
    let T = i.T;
    while (T > 1 && memoryPlan({ ...i, B: 1, T, training: true }).total > budget) T = Math.floor(T / 2);
    return memoryPlan({ ...i, B: 1, T, training: true }).total <= budget ? `--batch-size 1 --seq-len ${T} fits` : undefined;
  },
  (i, budget) => {
    if (i.precision === 'f16') return undefined;
    const B = largestFittingBatch({ ...i, precision: 'f16', training: true }, budget);
    return B >= i.B ? `--precision f16 at --batch-size ${i.B} fits` : undefined;
  },
];
export function registerMemoryAlternative(a: MemoryAlternative): void {
  alternatives.push(a);
}

export const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 2 ** 10).toFixed(1)} KiB`);

/** Why a training configuration does not fit `budget`, with the figures and what would fit; undefined if it fits. */
export function memoryRefusal(i: MemoryPlanInput, budget: number, budgetSource: string): string | undefined {
  const plan = memoryPlan({ ...i, training: i.training ?? true });
  if (plan.total <= budget) return undefined;
  const parts = MEMORY_CATEGORIES.filter((k) => plan[k] > 0).map((k) => `${k} ${fmtBytes(plan[k])}`).join(', ');
  const fits = alternatives.map((a) => a(i, budget)).filter(Boolean);
  return `${i.training === false ? 'inference' : 'training'} at B=${i.B}, T=${i.T}, ${i.precision} needs ${fmtBytes(plan.total)} (${parts}), over the ${fmtBytes(budget)} budget (${budgetSource}); ${fits.length ? fits.join('; ') : `nothing fits: the parameters and optimiser state alone need ${fmtBytes(plan.weights + plan.masterWeights + plan.gradients + plan.adamMoments)}`}`;
}

/** The plan as a table: one row per category, inference and training columns. */
export function formatMemoryTable(inference: MemoryPlan, training: MemoryPlan): string {
  const rows = MEMORY_CATEGORIES.map((k) => `  ${k.padEnd(16)}${fmtBytes(inference[k]).padStart(12)}${fmtBytes(training[k]).padStart(12)}`);
  return [`  ${'category'.padEnd(16)}${'inference'.padStart(12)}${'training'.padStart(12)}`, ...rows, `  ${'total'.padEnd(16)}${fmtBytes(inference.total).padStart(12)}${fmtBytes(training.total).padStart(12)}`].join('\n');
}
