// GEMM against a GGML Q8_0 / Q4_0 quantized weight (util/ggml.ts), dequantized in the operand load,
// accumulated in f32: the frozen base weights of a quantized model (QLoRA), forward and dx.
//
//   qgemm, transW false: out[M,N] (+)= a[M,K] · deq(W)[K,N] (+ bias[N])     (Conv1D forward)
//   qgemm, transW true:  out[M,K] (+)= a[M,N] · deq(W)ᵀ                     (input gradient dx)
//   W [K (in), N (out)], K % 32 == 0, as K/32 × N blocks in block-row order (QuantizedWeight);
//   a, out, bias, preact: f16 or f32, row-major with leading dimensions lda / ldc (default packed).
//   Epilogue as gemm's (matmul.ts): activation (preact written, out = act(preact)), dactivation
//   (out = product ⊙ act'(preact)), lowRank (the LoRA term), bias, accumulate. One pass.
//
// Variant (qmatmul-wgsl.ts): forward on adapters with subgroups of 8+ lanes, 'sg' (a's blocks
// shared through subgroup broadcasts, a whole block per vec4<u32> load; 1 row per lane up to
// GEMV_MAX_M rows, 16 rows × 8 columns above); else 'gemv' for a few rows and 'tile' for more;
// transW (dx) 'gemv' / 'tile'. Forced (setQgemmVariant) or tuned (tuneQgemm, tune/qmatmul.ts, per
// adapter and class) choices override the defaults.
// Weight bytes per run: K·N·34/32 (q8_0) or K·N·18/32 (q4_0), read once per lane row of tm rows.
// Speed on lavapipe (AMD EPYC, 2 cores, 16-lane subgroups, quiet machine; q4_0, K = 2560, N = 10240):
// 'sg' at M = 1 ~3 GB/s of weights (10.6 GFLOP/s; the 'gemv' variant ~0.8 GB/s), M = 16 29 GFLOP/s,
// M = 32 33, M = 128 37-40 (the f16 gemm: ~22). What bounds it: at M = 1 the quants' loads (each
// 32-bit component a lane loads costs ~10 instructions; with them replaced by constants the kernel
// runs 4x faster), from M = 16 the broadcasts and FMAs.

import type { GPUContext, Step } from '../gpu/context';
import { BindingError } from '../util/errors';
import { isSoftwareAdapter } from '../gpu/adapter';
import type { Activation } from '../util/activation';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import { type QuantType, type QuantizedMatrix, QK, QUANT_BLOCK_BYTES } from '../util/ggml';
import { TunedChoice } from './tune/choice';
import { type TuneRecord, tuneKey } from './tune/store';
import type { Tensor } from '../gpu/tensor';
import { type LowRankEpilogue, type Range, actFn, addEpilogueBindings, bindRange, floatType, subgroupSizes } from './matmul';
import type { FloatType } from './matmul-wgsl';
import { type QgemmSpec, type QgemmVariant, qgemmGrid, qgemmSpecName, qgemmVariantName, qgemmWgsl } from './qmatmul-wgsl';

export type { QgemmVariant } from './qmatmul-wgsl';
export { qgemmVariantName } from './qmatmul-wgsl';

export interface QuantizedWeight {
  type: QuantType;
  K: number;
  N: number;
  /** u32 [ceil(N*K/32 / 2)]: the f16 scales two per u32 (unpack2x16float; no shader-f16 needed), block b·N + n at half b·N + n. */
  scales: Tensor;
  /** u32 packed quants, each block's words as in QuantizedMatrix.quants, the blocks in block-row order (b·N + n; uploadQuantized). */
  quants: Tensor;
}

/** Quant words uploadQuantized reorders per write (4 MiB), through one reused scratch. */
const REORDER_CHUNK_WORDS = 1 << 20;
let reorderScratch: { quants: Uint32Array; scales: Uint16Array } | undefined;

/**
 * Upload a QuantizedMatrix into new GPU tensors (labels `${label}.scales`, `${label}.quants`), its
 * blocks reordered from GGML's column-major order (block n·nb + b) to the kernels' block-row order
 * (b·N + n, qmatmul-wgsl.ts): lanes that own adjacent columns then read adjacent blocks. The
 * reordering goes an even number of block rows at a time (each chunk's scales start on a u32)
 * through one reused scratch of about chunkWords quant words: a fresh array per weight would cost a
 * page fault per 4 KiB on first touch (the loader's reason to reuse its buffers, model/source).
 */
export function uploadQuantized(gpu: GPUContext, q: QuantizedMatrix, label: string, chunkWords = REORDER_CHUNK_WORDS): QuantizedWeight {
  const nb = q.K / QK, N = q.N, W = q.type === 'q8_0' ? 8 : 4;
  const blocks = N * nb;
  const scales = gpu.tensor([Math.ceil(blocks / 2)], 'u32', `${label}.scales`);
  const quants = gpu.tensor([blocks * W], 'u32', `${label}.quants`);
  const rows = Math.max(2, Math.floor(chunkWords / (N * W)) & ~1);
  const need = Math.min(rows, nb + (nb % 2)) * N;
  if (!reorderScratch || reorderScratch.scales.length < need) reorderScratch = { quants: new Uint32Array(need * W), scales: new Uint16Array(need) };
  const { quants: sq, scales: ss } = reorderScratch;
  for (let b0 = 0; b0 < nb; b0 += rows) {
    const b1 = Math.min(nb, b0 + rows);
    for (let n = 0; n < N; n++) {
      for (let b = b0, src = n * nb + b0; b < b1; b++, src++) {
        const dst = (b - b0) * N + n;
        ss[dst] = q.scales[src]!;
        for (let w = 0; w < W; w++) sq[dst * W + w] = q.quants[src * W + w]!;
      }
    }
    const count = (b1 - b0) * N; // blocks in this chunk; b0 even, so its scales start on a u32
    gpu.writeBytes(quants.buffer, quants.offset + b0 * N * W * 4, sq.subarray(0, count * W));
    gpu.writeBytes(scales.buffer, scales.offset + b0 * N * 2, ss.subarray(0, count));
  }
  return { type: q.type, K: q.K, N: q.N, scales, quants };
}

/** Bytes the weight's two tensors occupy on the GPU (GGML's block bytes, up to the scales' padding). */
export function quantizedWeightBytes(w: QuantizedWeight): number {
  return w.scales.byteLength + w.quants.byteLength;
}

export interface QgemmOptions {
  M: number;
  /** false: out[M,N] = a[M,K] · deq(W)[K,N] (forward).  true: out[M,K] = a[M,N] · deq(W)ᵀ (input gradient dx). */
  transW?: boolean;
  accumulate?: boolean;
  /** [output columns], added to every row. */
  bias?: Tensor | null;
  /** As GemmOptions: preact gets the sum, out = act(preact). */
  activation?: Activation;
  /** As GemmOptions: out = product ⊙ act'(preact). */
  dactivation?: Activation;
  preact?: Tensor;
  /** As GemmOptions (the LoRA term added in the epilogue). */
  lowRank?: LowRankEpilogue | null;
  lda?: number;
  ldc?: number;
}

// ------------------------------------------------------------------------------------------------
// Variant choice: by M class ('gemv' up to GEMV_MAX_M rows, else 'tile') and direction; forced,
// else tuned per adapter, else a default.

/** Rows up to which the GEMV variant serves. */
export const GEMV_MAX_M = 4;

/** What the choice depends on besides the adapter: the variant family and the direction. */
export interface QgemmClass {
  kind: 'gemv' | 'tile';
  transW: boolean;
}

export function qgemmClass(M: number, transW: boolean): QgemmClass {
  return { kind: M <= GEMV_MAX_M ? 'gemv' : 'tile', transW };
}

/** The subgroup variants' defaults (forward): one row per lane for the gemv class; 16 rows × 8 columns for more (M = 16: 1.8× the 8 × 4 tile on lavapipe). */
export const DEFAULT_SG_GEMV: QgemmVariant = { kind: 'sg', tm: 1, tn: 4, wx: 16, wy: 1, split: 1 };
export const DEFAULT_SG_TILE: QgemmVariant = { kind: 'sg', tm: 16, tn: 8, wx: 16, wy: 1, split: 1 };

/**
 * The defaults: on CPU adapters with subgroups of 8+ lanes the 'sg' variants forward (3-5× the
 * others on lavapipe: a's rows loaded once per subgroup, whole blocks per load); else one lane per
 * 4 columns (gemv) or 4×4 tiles; on GPUs split-K GEMV and more lanes (until tuned).
 */
export function defaultQgemmVariant(gpu: GPUContext, c: QgemmClass): QgemmVariant {
  const cpu = isSoftwareAdapter(gpu);
  if (cpu && !c.transW) {
    const sg = c.kind === 'gemv' ? DEFAULT_SG_GEMV : DEFAULT_SG_TILE;
    if (!qgemmVariantProblem(gpu, sg, false)) return sg;
  }
  return plainQgemmVariant(gpu, c);
}

/** The defaults without subgroups (see defaultQgemmVariant). */
function plainQgemmVariant(gpu: GPUContext, c: QgemmClass): QgemmVariant {
  const cpu = isSoftwareAdapter(gpu);
  if (c.kind === 'gemv') {
    return c.transW
      ? { kind: 'gemv', tm: 1, tn: 16, wx: cpu ? 8 : 32, wy: 1, split: cpu ? 1 : 8 }
      : { kind: 'gemv', tm: 1, tn: 4, wx: cpu ? 8 : 32, wy: 1, split: cpu ? 1 : 8 };
  }
  return c.transW ? { kind: 'tile', tm: 4, tn: 16, wx: 8, wy: cpu ? 2 : 8, split: 1 } : { kind: 'tile', tm: 4, tn: 4, wx: cpu ? 8 : 16, wy: cpu ? 2 : 8, split: 1 };
}

/** Why v is no qgemm tiling this adapter can run ('' when it is). */
export function qgemmVariantProblem(gpu: GPUContext, v: QgemmVariant, transW?: boolean): string {
  const lanes = v.wx * v.wy * v.split;
  const maxLanes = gpu.limits.maxComputeInvocationsPerWorkgroup ?? 256;
  const okTn = transW === undefined ? v.tn % 4 === 0 : transW ? [8, 16, 32].includes(v.tn) : v.tn % 4 === 0;
  const ok = (v.kind === 'gemv' || v.kind === 'tile' || v.kind === 'sg') && [v.tm, v.tn, v.wx, v.wy, v.split].every((n) => Number.isInteger(n) && n >= 1) && okTn;
  if (!ok) return `qgemm variant ${JSON.stringify(v)} is not a valid tiling${transW ? ' for transW (tn 8, 16 or 32)' : ''}`;
  if (v.kind === 'sg') {
    if (transW) return `qgemm variant ${JSON.stringify(v)} computes the forward product only (not transW)`;
    if (v.split !== 1) return `qgemm variant ${JSON.stringify(v)}: the sg variant does not split the reduction`;
    if (!gpu.hasSubgroups) return `qgemm variant ${JSON.stringify(v)} needs subgroups, which ${gpu.adapterName} lacks`;
    // lanes broadcast from lanes 0..7 of their own subgroup, which must lie within one row of lanes
    const { min, max } = subgroupSizes(gpu);
    if ((min !== undefined && min < 8) || (v.wy > 1 && (max === undefined || v.wx % max !== 0))) {
      return `qgemm variant ${JSON.stringify(v)} needs subgroups of 8+ lanes within a row of ${v.wx} lanes; ${gpu.adapterName} has ${min ?? '?'}..${max ?? '?'}`;
    }
  }
  if (lanes > maxLanes) return `qgemm variant ${JSON.stringify(v)} has ${lanes} lanes per workgroup; ${gpu.adapterName} allows ${maxLanes}`;
  return '';
}

function classKey(c: QgemmClass): string {
  return `${c.kind}.${c.transW ? 'T' : 'N'}`;
}

/** The qgemm variant per adapter and class: forced (setQgemmVariant), tuned (tuneQgemm), or the default. */
export const qgemmChoice = new TunedChoice<QgemmVariant, QgemmClass, TuneRecord<QgemmVariant>>({
  what: 'qgemm',
  key: (gpu, c) => `qgemm.${classKey(c)}.${tuneKey(gpu)}`,
  problem: (gpu, v) => qgemmVariantProblem(gpu, v),
  recordProblem: (gpu, v, c) => (v.kind !== c.kind && v.kind !== 'sg' ? `a ${v.kind} variant for the ${c.kind} shapes` : qgemmVariantProblem(gpu, v, c.transW)),
  forceError: (problem) => new BindingError(problem),
});

const forcedByClass = new WeakMap<GPUContext, Map<string, QgemmVariant>>();

/**
 * Use this variant on this context for the shapes of its kind ('gemv' or 'tile') in the direction
 * given (both when transW is undefined), regardless of M and tuning (tests, benchmarks); null
 * restores the choice by M.
 */
export function setQgemmVariant(gpu: GPUContext, variant: QgemmVariant | null, transW?: boolean): void {
  if (variant === null) return void forcedByClass.delete(gpu);
  for (const t of transW === undefined ? [false, true] : [transW]) {
    const problem = qgemmVariantProblem(gpu, variant, t);
    if (problem) throw new BindingError(problem);
  }
  let m = forcedByClass.get(gpu);
  if (!m) forcedByClass.set(gpu, (m = new Map()));
  for (const t of transW === undefined ? [false, true] : [transW]) m.set(t ? 'T' : 'N', variant);
}

/** The variant qgemm uses for M rows in this direction: forced, else tuned, else the default. */
export function qgemmVariant(gpu: GPUContext, M: number, transW: boolean): QgemmVariant {
  const forced = forcedByClass.get(gpu)?.get(transW ? 'T' : 'N');
  if (forced) return forced;
  const c = qgemmClass(M, transW);
  return qgemmChoice.variant(gpu, c, () => defaultQgemmVariant(gpu, c));
}

// ------------------------------------------------------------------------------------------------

/**
 * sg: rows of a each load fetches: 2 where the subgroups have 16+ lanes and tm is even (lanes 8..15
 * load the second row instead of repeating lanes 0..7's loads), else 1.
 */
function sgRowsPerLoad(gpu: GPUContext, v: QgemmVariant): number {
  return (subgroupSizes(gpu).min ?? 8) >= 16 && v.tm % 2 === 0 ? 2 : 1;
}

const sources = kernelSourceCache();

function qgemmSource(spec: QgemmSpec): KernelSource {
  const name = qgemmSpecName(spec);
  return sources(name, () => ({ name, code: qgemmWgsl(spec) }));
}

/** Weight bytes one qgemm run reads at least once (the bench's GB/s). */
export function qgemmWeightBytes(type: QuantType, K: number, N: number): number {
  return ((K * N) / QK) * QUANT_BLOCK_BYTES[type];
}

function checkWeight(w: QuantizedWeight): void {
  const blocks = (w.K * w.N) / QK;
  if (!Number.isInteger(blocks) || w.K % QK !== 0 || w.N < 1) throw new RangeError(`qgemm: weight [${w.K}, ${w.N}] is not whole blocks of ${QK} along K`);
  const words = w.type === 'q8_0' ? blocks * 8 : blocks * 4;
  if (w.quants.dtype !== 'u32' || w.quants.numel < words) throw new RangeError(`qgemm: quants ${w.quants} must be u32 with ${words} elements for a ${w.type} [${w.K}, ${w.N}] weight`);
  if (w.scales.dtype !== 'u32' || w.scales.numel < Math.ceil(blocks / 2)) throw new RangeError(`qgemm: scales ${w.scales} must be u32 with ${Math.ceil(blocks / 2)} elements`);
}

/** Record one quantized GEMM (see the module header). */
export function qgemm(step: Step, out: Tensor, a: Tensor, w: QuantizedWeight, opts: QgemmOptions): void {
  const gpu = step.ctx;
  const { M } = opts;
  const transW = !!opts.transW;
  if (!Number.isInteger(M) || M < 0) throw new RangeError(`qgemm: M must be a non-negative integer, got ${M}`);
  checkWeight(w);
  const R = transW ? w.N : w.K; // reduction length
  const cols = transW ? w.K : w.N; // output columns
  const lda = opts.lda ?? R, ldc = opts.ldc ?? cols;
  if (lda < R || ldc < cols) throw new RangeError(`qgemm: leading dimensions lda=${lda} ldc=${ldc} are smaller than the rows they hold (${R}, ${cols})`);
  if (opts.dactivation && opts.activation) throw new TypeError('qgemm: activation and dactivation cannot be combined');
  const actName = opts.dactivation ?? opts.activation;
  const preact = actName ? opts.preact ?? null : null;
  if (actName && !preact) throw new TypeError(`qgemm: the ${actName} epilogue needs a preact tensor`);
  if (actName && opts.accumulate) throw new TypeError('qgemm: an activation epilogue and accumulate cannot be combined');
  if (M === 0) return;
  const bias = opts.bias ?? null;
  const lowRank = opts.lowRank ?? null;
  const ta = floatType(a, 'a'), to = floatType(out, 'out');
  if (bias && bias.numel < cols) throw new RangeError(`qgemm: bias ${bias} needs ${cols} elements`);
  const rq = bindRange(gpu, w.quants, 0, w.quants.numel, 'quants');
  let variant = qgemmVariant(gpu, M, transW);
  // the sg kernel reads the quants as vec4<u32>: from a binding offset that is a multiple of 4 words
  if (variant.kind === 'sg' && rq.offset % 4 !== 0) variant = plainQgemmVariant(gpu, qgemmClass(M, false));
  const ra = bindRange(gpu, a, 0, (M - 1) * lda + R, 'a');
  const rc = bindRange(gpu, out, 0, (M - 1) * ldc + cols, 'out');
  const rbias = bias ? bindRange(gpu, bias, 0, cols, 'bias') : null;
  const rp = preact ? bindRange(gpu, preact, 0, (M - 1) * ldc + cols, 'preact') : null;
  const rs = bindRange(gpu, w.scales, 0, Math.ceil(((w.K * w.N) / QK) / 2), 'scales');
  const maxBinding = gpu.limits.maxStorageBufferBindingSize!;
  for (const [what, r] of [['a', ra], ['out', rc], ['quants', rq]] as const) {
    if (r.binding.size > maxBinding) throw new BindingError(`qgemm: ${what} needs a ${r.binding.size}-byte binding; ${gpu.adapterName} allows ${maxBinding} (no split along M or N yet)`);
  }
  const ldu = lowRank ? lowRank.ldu ?? lowRank.r : 0;
  const ru = lowRank ? bindRange(gpu, lowRank.u, 0, (M - 1) * ldu + lowRank.r, 'lowRank.u') : null;
  const re = lowRank ? bindRange(gpu, lowRank.e, 0, (cols - 1) * lowRank.sn + (lowRank.r - 1) * lowRank.sj + 1, 'lowRank.e') : null;
  const vec = (r: Range | null, ld: number) => !r || (r.vecSafe && r.offset % 4 === 0 && ld % 4 === 0);
  const spec: QgemmSpec = {
    variant,
    type: w.type,
    transW,
    a: ta,
    vecA: vec(ra, lda),
    pairScales: variant.kind === 'sg' && w.N % 2 === 0,
    rowsPerLoad: variant.kind === 'sg' ? sgRowsPerLoad(gpu, variant) : undefined,
    out: to,
    vecOut: vec(rc, ldc) && vec(rp, ldc),
    accumulate: !!opts.accumulate,
    bias: bias ? floatType(bias, 'bias') : null,
    act: preact && actName ? { fn: actFn(actName), preact: floatType(preact, 'preact'), backward: !!opts.dactivation } : null,
    lowRank: lowRank ? { u: floatType(lowRank.u, 'lowRank.u') as FloatType, e: floatType(lowRank.e, 'lowRank.e') as FloatType } : null,
  };
  const params = {
    M, N: cols, R, lda, ldc,
    offA: ra.offset, offC: rc.offset, offBias: rbias?.offset ?? 0, offP: rp?.offset ?? 0,
    nb: w.K / QK, offS: rs.offset, offQ: rq.offset,
  };
  const bindings: Record<string, unknown> = { out: rc.binding, a: ra.binding, scales: rs.binding, quants: rq.binding, params };
  addEpilogueBindings(bindings, rbias, rp, lowRank, ru, re, ldu);
  const grid = qgemmGrid(variant, M, cols);
  const maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (grid[0] > maxGrid || grid[1] > maxGrid) throw new BindingError(`qgemm: grid ${grid} passes ${maxGrid} workgroups (M=${M}, ${cols} columns, ${qgemmVariantName(variant)})`);
  step.dispatch(qgemmSource(spec), bindings as Parameters<Step['dispatch']>[1], grid, { flops: 2 * M * w.K * w.N });
}
