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
// shared through subgroup broadcasts, a whole block per texel fetch; 1 row per lane up to
// GEMV_MAX_M rows, 16 rows × 8 columns above); else 'gemv' for a few rows and 'tile' for more;
// transW (dx) 'gemv' / 'tile'. Forced (setQgemmVariant) or tuned (tuneQgemm, tune/qmatmul.ts, per
// adapter and class) choices override the defaults.
// Weight bytes per run: K·N·34/32 (q8_0) or K·N·18/32 (q4_0), read once per lane row of tm rows.
// The quants live in an rgba32uint texture (QuantizedWeight): on lavapipe a storage load runs a
// per-lane loop with a bounds check per 32-bit word, a texel fetch is one gather for all lanes.
// Speed on lavapipe (AMD EPYC, 2 cores, 16-lane subgroups; interleaved in one process, the quants
// in a storage buffer -> in a texture, bit-identical results): q4_0 K = 2560, N = 10240: M = 1
// 1.7 -> 3.7 GB/s of weights, M = 16 44 -> 50 GFLOP/s, M = 32 50 -> 50, M = 128 59 -> 70; q8_0 M = 1
// 2.0 -> 4.6 GB/s, M = 32 33 -> 47 GFLOP/s; q4_0 K = 10240, N = 2560: M = 1 2.4 -> 3.4 GB/s, M = 32
// 47 -> 65 GFLOP/s (the f16 gemm: ~22-30). What bounds it: at M = 1 the quants' fetches, from M = 16
// the broadcasts, FMAs and the accumulators' spills (16 × 8 of them per lane).

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
  /**
   * The packed quants, each block's words as in QuantizedMatrix.quants, the blocks in block-row
   * order (b·N + n; uploadQuantized), 4 words a texel of an rgba32uint texture (q4_0: one block a
   * texel; q8_0: two), texel t at (t mod width, t / width) (quantTextureSize). A texture, not a
   * storage buffer: lavapipe fetches a texel for 16 lanes as one gather, where a storage load runs a
   * per-lane loop with a bounds check per word (M = 1: 1.5× the speed).
   */
  quants: GPUTexture;
}

/** The quants' texture width at most: WebGPU's guaranteed maxTextureDimension2D. */
export const QUANT_TEXTURE_WIDTH = 8192;

/** The quants' texture of a weight: a power-of-two width up to QUANT_TEXTURE_WIDTH (texel t at (t mod width, t / width)), and its rows. */
export function quantTextureSize(type: QuantType, K: number, N: number): { width: number; height: number; texels: number } {
  const texels = ((K * N) / QK) * (type === 'q8_0' ? 2 : 1);
  let width = 1;
  while (width < texels && width < QUANT_TEXTURE_WIDTH) width *= 2;
  return { width, height: Math.ceil(texels / width), texels };
}

/** New GPU storage for a [K, N] weight of this type, zero-filled (uploadQuantized fills it; benches use it as it is). */
export function createQuantizedWeight(gpu: GPUContext, type: QuantType, K: number, N: number, label: string): QuantizedWeight {
  const blocks = (K * N) / QK;
  if (!Number.isInteger(blocks) || K % QK !== 0 || N < 1) throw new RangeError(`${label}: weight [${K}, ${N}] is not whole blocks of ${QK} along K`);
  const { width, height } = quantTextureSize(type, K, N);
  const max = gpu.limits.maxTextureDimension2D ?? QUANT_TEXTURE_WIDTH;
  if (height > max) throw new BindingError(`${label}: a ${type} [${K}, ${N}] weight needs ${height} texture rows of ${width} blocks; ${gpu.adapterName} allows ${max}`);
  gpu.check();
  const quants = gpu.device.createTexture({
    label: `${label}.quants`,
    size: [width, height],
    format: 'rgba32uint',
    usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST | GPUTextureUsage.COPY_SRC,
  });
  return { type, K, N, scales: gpu.tensor([Math.ceil(blocks / 2)], 'u32', `${label}.scales`), quants };
}

/** Release a weight's GPU storage. */
export function destroyQuantizedWeight(w: QuantizedWeight): void {
  w.scales.buffer.destroy();
  w.quants.destroy();
}

/** Quant words uploadQuantized reorders per write (4 MiB), through one reused scratch. */
const REORDER_CHUNK_WORDS = 1 << 20;
let reorderScratch: { quants: Uint32Array; scales: Uint16Array } | undefined;

/**
 * Upload a QuantizedMatrix into new GPU storage (createQuantizedWeight; labels `${label}.scales`,
 * `${label}.quants`), its blocks reordered from GGML's column-major order (block n·nb + b) to the
 * kernels' block-row order (b·N + n, qmatmul-wgsl.ts): lanes that own adjacent columns then read
 * adjacent blocks. The reordering goes whole texture rows at a time (each chunk's scales start on a
 * u32) through one reused scratch of about chunkWords quant words: a fresh array per weight would
 * cost a page fault per 4 KiB on first touch (the loader's reason to reuse its buffers,
 * model/source).
 */
export function uploadQuantized(gpu: GPUContext, q: QuantizedMatrix, label: string, chunkWords = REORDER_CHUNK_WORDS): QuantizedWeight {
  const w = createQuantizedWeight(gpu, q.type, q.K, q.N, label);
  const nb = q.K / QK, N = q.N, W = q.type === 'q8_0' ? 8 : 4, perTexel = W / 4;
  const { width, height } = quantTextureSize(q.type, q.K, q.N);
  const blocks = N * nb;
  const rows = Math.max(1, Math.min(height, Math.floor(chunkWords / (4 * width))));
  const need = (rows * width) / perTexel; // blocks of one chunk (width is even wherever a chunk is not the whole texture)
  if (!reorderScratch || reorderScratch.scales.length < need) reorderScratch = { quants: new Uint32Array(need * W), scales: new Uint16Array(need) };
  const { quants: sq, scales: ss } = reorderScratch;
  for (let y0 = 0; y0 < height; y0 += rows) {
    const y1 = Math.min(height, y0 + rows);
    const s0 = (y0 * width) / perTexel, s1 = Math.min(blocks, (y1 * width) / perTexel);
    for (let s = s0; s < s1; s++) {
      const b = Math.floor(s / N), n = s - b * N, src = n * nb + b, dst = s - s0;
      ss[dst] = q.scales[src]!;
      for (let k = 0; k < W; k++) sq[dst * W + k] = q.quants[src * W + k]!;
    }
    const words = (y1 - y0) * width * 4;
    sq.fill(0, (s1 - s0) * W, words); // the last row's padding
    gpu.device.queue.writeTexture({ texture: w.quants, origin: { x: 0, y: y0 } }, sq.subarray(0, words) as Uint32Array<ArrayBuffer>, { bytesPerRow: width * 16, rowsPerImage: y1 - y0 }, { width, height: y1 - y0 });
    gpu.writeBytes(w.scales.buffer, w.scales.offset + s0 * 2, ss.subarray(0, s1 - s0)); // s0 even: a chunk starts on a whole row
  }
  return w;
}

/** The quants' words back from the GPU in block-row order, texels × 4 of them (tests, debugging). */
export async function downloadQuants(gpu: GPUContext, w: QuantizedWeight): Promise<Uint32Array> {
  const { width, height, texels } = quantTextureSize(w.type, w.K, w.N);
  const bytesPerRow = Math.ceil((width * 16) / 256) * 256; // copyTextureToBuffer's row alignment
  const buf = gpu.createBuffer(bytesPerRow * height, `${w.quants.label}.download`, GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ);
  try {
    const enc = gpu.device.createCommandEncoder();
    enc.copyTextureToBuffer({ texture: w.quants }, { buffer: buf, bytesPerRow, rowsPerImage: height }, { width, height });
    gpu.submitCommands('downloadQuants', enc.finish());
    await buf.mapAsync(GPUMapMode.READ);
    const raw = new Uint32Array(buf.getMappedRange());
    const out = new Uint32Array(texels * 4);
    for (let y = 0; y * width < texels; y++) {
      const n = Math.min(width, texels - y * width) * 4, from = (y * bytesPerRow) / 4;
      out.set(raw.subarray(from, from + n), y * width * 4);
    }
    buf.unmap();
    return out;
  } finally {
    buf.destroy();
  }
}

/** Bytes the weight occupies on the GPU as allocated: its scales' buffer and its quants' texture (GGML's block bytes, up to the padding of both). */
export function quantizedWeightBytes(w: QuantizedWeight): number {
  return w.scales.buffer.size + w.quants.width * w.quants.height * 16;
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
  const { width, height } = quantTextureSize(w.type, w.K, w.N);
  if (w.quants.width !== width || w.quants.height < height || w.quants.format !== 'rgba32uint') {
    throw new RangeError(`qgemm: quants texture "${w.quants.label}" must be rgba32uint ${width} × ${height} for a ${w.type} [${w.K}, ${w.N}] weight, got ${w.quants.format} ${w.quants.width} × ${w.quants.height}`);
  }
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
  const variant = qgemmVariant(gpu, M, transW);
  const ra = bindRange(gpu, a, 0, (M - 1) * lda + R, 'a');
  const rc = bindRange(gpu, out, 0, (M - 1) * ldc + cols, 'out');
  const rbias = bias ? bindRange(gpu, bias, 0, cols, 'bias') : null;
  const rp = preact ? bindRange(gpu, preact, 0, (M - 1) * ldc + cols, 'preact') : null;
  const rs = bindRange(gpu, w.scales, 0, Math.ceil(((w.K * w.N) / QK) / 2), 'scales');
  const maxBinding = gpu.limits.maxStorageBufferBindingSize!;
  for (const [what, r] of [['a', ra], ['out', rc]] as const) {
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
    nb: w.K / QK, offS: rs.offset, qshift: Math.log2(w.quants.width),
  };
  const bindings: Record<string, unknown> = { out: rc.binding, a: ra.binding, scales: rs.binding, quants: w.quants, params };
  addEpilogueBindings(bindings, rbias, rp, lowRank, ru, re, ldu);
  const grid = qgemmGrid(variant, M, cols);
  const maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  if (grid[0] > maxGrid || grid[1] > maxGrid) throw new BindingError(`qgemm: grid ${grid} passes ${maxGrid} workgroups (M=${M}, ${cols} columns, ${qgemmVariantName(variant)})`);
  step.dispatch(qgemmSource(spec), bindings as Parameters<Step['dispatch']>[1], grid, { flops: 2 * M * w.K * w.N });
}
