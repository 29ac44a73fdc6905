// The GEMM behind every GPT-2 matmul, forward and backward, and the bias gradient.
//
//   gemm:  out[M,N] (+)= op(a)[M,K] · op(b)[K,N] (+ bias[N]),  op = transpose when the flag is set
//          a is stored [M,K] (or [K,M] with transA), b [K,N] (or [N,K] with transB), row-major,
//          leading dimensions lda / ldb / ldc (default: packed).
//          `activation` (forward): preact[M,N] (same ldc) gets the sum and out = act(preact).
//          `dactivation` (backward): out = product ⊙ act'(preact), preact the forward's saved one:
//          dpre of the layer below in the same pass as its dinp.
//          act: gelu_new / gelu_pytorch_tanh (tanh GELU), gelu (exact, erf), relu, silu.
//          One pass (more only when an operand is larger than one storage binding may be, or the
//          grid would pass 65535: then it is split in blocks).
//   biasBackward: dbias[N] += Σ_m dout[m,n], summed in a fixed order (deterministic), one pass.
//
// GPT-2 (HF Conv1D layout, weight [in, out], y = x·W + b), llm.c argument order:
//   matmulForward:  out[BT,OC] = inp[BT,C] · weight[C,OC] + bias[OC]      (NN)
//   matmulBackward: dinp[BT,C] = dout[BT,OC] · weightᵀ (⊙ act'(preact))   (NT, overwritten)
//                   dweight[C,OC] += inpᵀ · dout                          (TN, accumulated)
//                   dbias[OC] += Σ_bt dout[bt,:]
//   lm_head (via gemm): logits = x · wteᵀ (NT), dx = dlogits · wte (NN), dwte += dlogitsᵀ · x (TN).
//
// Dtypes: a, b, bias each f16 or f32, out/preact f16 or f32, independently; accumulation is f32.
// The WGSL variant follows from the tensors' dtypes, the layout, the alignment of each operand
// (vec4 loads where leading dimension and offset allow) and the adapter's tiling: matmulChoice,
// forced, else tuned (tuneMatmul, tune/matmul.ts), else a default by adapter kind. WGSL lives in
// matmul-wgsl.ts.
//
// Tensors are bound as byte ranges: each binding starts at the 256-byte boundary at or below the
// operand's first element (the remainder travels as an element offset in the uniforms) and ends on
// the 16-byte boundary at or above its last, so any view works: a sub-block of a wider matrix, an
// unaligned row offset. WebGPU forbids a writable binding to overlap another binding of the same
// buffer, so `out` / `preact` should not share a 256-byte block with an input of the same call.
//
// Speed on lavapipe (2 cores, AVX2 8-wide; default variant 'bcast' 32×4 rows×columns per lane):
// ~20-30 GFLOP/s at 1024³ f32, ~35-45 in f16, 30-45 at the GPT-2 124M shapes (TensorFlow.js
// WebGPU: 1.5-2.4; the portable 'tiled' kernel: ~4). What bounds it there: every storage load in a
// loop becomes a per-lane scalar loop with a bounds check (~8 instructions per element; f16 costs
// half as two halves share a u32), FMAs are emitted as separate mul and add, and the 128
// accumulators per lane spill. Per 4 k-steps a lane issues 8 vector loads for 512 FMAs.
// See bench/kernels/matmul.ts.

import type { GPUContext, Step } from '../gpu/context';
import { BindingError } from '../util/errors';
import { isSoftwareAdapter } from '../gpu/adapter';
// The epilogue's activations by their Hugging Face names (config.json activation_function).
import type { Activation } from '../util/activation';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import { TunedChoice } from './tune/choice';
import { type TuneRecord, tuneKey } from './tune/store';
import { DTYPE_BYTES, type Tensor, alignUp } from '../gpu/tensor';
import {
  type ActFn,
  BIAS_BX,
  type FloatType,
  type GemmSpec,
  type MatmulVariant,
  biasBackwardWgsl,
  gemmGrid,
  gemmWgsl,
  rowsPerWorkgroup,
  specName,
} from './matmul-wgsl';

import { type GemvSpec, type GemvVariant, gemvColumnsPerWorkgroup, gemvName, gemvVariantProblem, gemvWgsl, gemvWideElems } from './gemv';

export type { MatmulVariant } from './matmul-wgsl';
export type { GemvVariant } from './gemv';

const ACT_FN: Record<Activation, ActFn> = { gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu: 'erf', relu: 'relu', silu: 'silu' };

export function actFn(a: string): ActFn {
  const f = ACT_FN[a as Activation];
  if (!f) throw new RangeError(`gemm: unknown activation "${a}" (one of ${Object.keys(ACT_FN).join(', ')})`);
  return f;
}

export interface GemmOptions {
  M: number;
  N: number;
  K: number;
  /** a is stored [K,M] (leading dimension lda ≥ M). */
  transA?: boolean;
  /** b is stored [N,K] (leading dimension ldb ≥ K). */
  transB?: boolean;
  /** out += product instead of out = product. */
  accumulate?: boolean;
  /** [N], added to every row. */
  bias?: Tensor | null;
  /** Forward epilogue: preact = product + bias, out = act(preact). Needs `preact`. */
  activation?: Activation;
  /** Same as activation: 'gelu_new' (kept for older callers). */
  gelu?: boolean;
  /** Backward epilogue: out = product ⊙ act'(preact), preact read. Needs `preact`; not with accumulate or bias. */
  dactivation?: Activation;
  /** [M,N] with leading dimension ldc: written by `activation`, read by `dactivation`. */
  preact?: Tensor;
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Low-rank epilogue (LoRA): out[m,n] += Σ_j u[m,j]·e[n,j] before accumulate, bias and GELU. */
  lowRank?: LowRankEpilogue | null;
}

/**
 * The low-rank term of a LoRA layer, added in the GEMM's epilogue (see matmul-wgsl.ts):
 * u [M, r] (leading dimension ldu, default r), e element (n, j) at e[n*sn + j*sj].
 */
export interface LowRankEpilogue {
  u: Tensor;
  e: Tensor;
  r: number;
  ldu?: number;
  sn: number;
  sj: number;
}

// ------------------------------------------------------------------------------------------------
// Variant choice: forced, else tuned per adapter (tuneMatmul, tune/matmul.ts), else a default by adapter kind.

/** Tiled, workgroup memory: the portable default for real GPUs. */
export const DEFAULT_TILED: MatmulVariant = { kind: 'tiled', tm: 4, tn: 4, wx: 16, wy: 16, bk: 16 };
/** Subgroup broadcast, no workgroup memory: the default for CPU (software) adapters with subgroups. */
export const DEFAULT_BCAST: MatmulVariant = { kind: 'bcast', tm: 32, tn: 4, wx: 8, wy: 2, subgroups: true };
/** The same for 16-lane subgroups (lavapipe with 512-bit vectors): 16 lanes share each A block. */
export const DEFAULT_BCAST16: MatmulVariant = { kind: 'bcast', tm: 32, tn: 4, wx: 16, wy: 2, subgroups: true, g: 16 };

/** A GEMM the tuner times, [M, N, K, transA, transB] and optionally its weight in the total (default 1): the total is Σ weight · ms. */
export type MatmulTuneShape = [number, number, number, boolean, boolean] | [number, number, number, boolean, boolean, number];

/** What tuneMatmul stores per adapter. */
export interface MatmulTuneRecord extends Omit<TuneRecord<MatmulVariant>, 'shape'> {
  /** The shapes timed, [M, N, K, transA, transB, weight in the total (default 1)]. */
  shapes?: MatmulTuneShape[];
}

/** The adapter's subgroup size range, where it reports one. */
export function subgroupSizes(gpu: GPUContext): { min?: number; max?: number } {
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return { min: info?.subgroupMinSize, max: info?.subgroupMaxSize };
}

/** Why the variant is not a valid tiling that this adapter can run, or ''. */
export function matmulVariantProblem(gpu: GPUContext, v: MatmulVariant): string {
  const g = v.kind === 'bcast' ? (v.g ?? 8) : 8;
  if (v.kind === 'bcast' && v.subgroups) {
    if (!gpu.hasSubgroups) return `matmul variant ${JSON.stringify(v)} needs subgroups, which ${gpu.adapterName} lacks`;
    // Lanes broadcast from lanes 0..g-1 of their own subgroup, which must lie within one row of lanes.
    const { min, max } = subgroupSizes(gpu);
    if ((min !== undefined && min < g) || (max !== undefined && v.wx % max !== 0)) {
      return `matmul variant ${JSON.stringify(v)} needs subgroups of ${g}+ lanes that divide wx=${v.wx}; ${gpu.adapterName} has ${min}..${max}`;
    }
  }
  const ok =
    v.kind === 'tiled'
      ? v.tm % 4 === 0 && v.tn % 4 === 0 && v.bk % 4 === 0 && ((v.wy * v.tm * v.bk) / 4) % (v.wx * v.wy) === 0 && ((v.wx * v.tn * v.bk) / 4) % (v.wx * v.wy) === 0
      : (g === 8 || (g === 16 && v.subgroups)) && v.tm % (v.subgroups ? g : 4) === 0 && v.tn % 4 === 0 && v.wx > 0 && v.wy > 0;
  return ok ? '' : `matmul variant ${JSON.stringify(v)} is not a valid tiling`;
}

/** Throws a BindingError unless the variant is a valid tiling that this adapter can run. */
export function checkVariant(gpu: GPUContext, v: MatmulVariant): void {
  const problem = matmulVariantProblem(gpu, v);
  if (problem) throw new BindingError(problem);
}

/** The GEMM variant per adapter: forced (setMatmulVariant), recorded under tuneKey(gpu) by tuneMatmul, or the default. */
export const matmulChoice = new TunedChoice<MatmulVariant, void, MatmulTuneRecord>({
  what: 'matmul',
  key: (gpu) => tuneKey(gpu),
  problem: matmulVariantProblem,
  forceError: (problem) => new BindingError(problem),
});

/** Use this variant on this context regardless of tuning (tests, benchmarks); null restores the default. */
export function setMatmulVariant(gpu: GPUContext, variant: MatmulVariant | null): void {
  matmulChoice.force(gpu, variant);
}

/** The variant gemm uses on this context: forced, else tuned, else the default for its kind of adapter. */
export function matmulVariant(gpu: GPUContext): MatmulVariant {
  return matmulChoice.variant(gpu, undefined, () => {
    if (isSoftwareAdapter(gpu) && gpu.hasSubgroups) {
      const v = [DEFAULT_BCAST, DEFAULT_BCAST16].find((d) => !matmulVariantProblem(gpu, d)); // subgroups of 8 or of 16 lanes
      if (v) return v;
    }
    return DEFAULT_TILED;
  });
}

// ------------------------------------------------------------------------------------------------
// Kernel sources, built once per spec (src/gpu/sources.ts) so the pipeline cache's WeakMap fast path hits.

const sources = kernelSourceCache();

function gemmSource(spec: GemmSpec): KernelSource {
  const name = specName(spec);
  return sources(name, () => ({ name, code: gemmWgsl(spec) }));
}

function biasSource(dbias: FloatType, dout: FloatType, vec: boolean): KernelSource {
  const name = `bias_backward_${dbias}_${dout}_${vec ? 'v' : 's'}`;
  return sources(name, () => ({ name, code: biasBackwardWgsl(dbias, dout, vec) }));
}

// ------------------------------------------------------------------------------------------------
// Bindings as byte ranges

export function floatType(t: Tensor, what: string): FloatType {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`gemm: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

export interface Range {
  binding: { buffer: GPUBuffer; offset: number; size: number };
  /** Element offset of the first element inside the binding. */
  offset: number;
  /** Whole groups of 4 elements can be loaded up to the end (the binding ends on a 4-element boundary). */
  vecSafe: boolean;
}

/** Bind elements [first, end) of t: the binding starts at the aligned byte at or below the first. */
export function bindRange(gpu: GPUContext, t: Tensor, first: number, end: number, what: string, groupElems = 4): Range {
  if (end > t.numel) {
    throw new RangeError(`gemm: ${what} ${t} holds ${t.numel} elements; the shape and leading dimension need ${end}`);
  }
  const bytes = DTYPE_BYTES[t.dtype];
  const align = gpu.limits.minStorageBufferOffsetAlignment ?? 256;
  const start = t.offset + first * bytes;
  const offset = start - (start % align);
  const group = groupElems * bytes; // one vec4 load (f32) or vec2<u32> (4 × f16); gemv's vec4<u32>: 8 × f16
  const endByte = t.offset + Math.max(end, first + 1) * bytes;
  const stop = Math.min(alignUp(endByte, group), t.buffer.size);
  return {
    binding: { buffer: t.buffer, offset, size: alignUp(stop - offset, 4) },
    offset: (start - offset) / bytes,
    vecSafe: stop === alignUp(endByte, group),
  };
}

/** One block of a GEMM problem: element offsets of its corner in each tensor. */
interface Block {
  M: number;
  N: number;
  K: number;
  a0: number;
  b0: number;
  c0: number;
  bias0: number;
  accumulate: boolean;
  withBias: boolean;
  /** Whether this block adds the low-rank term (once: not in the second half of a K split). */
  withLowRank: boolean;
  /** Element offsets of the block's first row of u / first column of e (low-rank epilogue). */
  u0: number;
  e0: number;
}

interface Problem {
  out: Tensor;
  a: Tensor;
  b: Tensor;
  bias: Tensor | null;
  preact: Tensor | null;
  act: ActFn | null;
  /** preact is read (backward epilogue), not written. */
  dact: boolean;
  lowRank: LowRankEpilogue | null;
  transA: boolean;
  transB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  variant: MatmulVariant;
}

function extentA(p: Problem, k: Block): number {
  return p.transA ? (k.K - 1) * p.lda + k.M : (k.M - 1) * p.lda + k.K;
}
function extentB(p: Problem, k: Block): number {
  return p.transB ? (k.N - 1) * p.ldb + k.K : (k.K - 1) * p.ldb + k.N;
}

/** Record one GEMM. See the module header for the math and layouts. */
export function gemm(step: Step, out: Tensor, a: Tensor, b: Tensor, opts: GemmOptions): void {
  const gpu = step.ctx;
  const { M, N, K } = opts;
  const transA = !!opts.transA, transB = !!opts.transB;
  for (const [n, v] of Object.entries({ M, N, K })) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`gemm: ${n} must be a non-negative integer, got ${v}`);
  }
  const lda = opts.lda ?? (transA ? M : K);
  const ldb = opts.ldb ?? (transB ? K : N);
  const ldc = opts.ldc ?? N;
  if (lda < (transA ? M : K) || ldb < (transB ? K : N) || ldc < N) {
    throw new RangeError(`gemm: leading dimensions lda=${lda} ldb=${ldb} ldc=${ldc} are smaller than the rows they hold (M=${M} N=${N} K=${K}, transA=${transA}, transB=${transB})`);
  }
  const bias = opts.bias ?? null;
  if (opts.dactivation && (opts.activation || opts.gelu)) throw new TypeError('gemm: activation and dactivation cannot be combined');
  const actName = opts.dactivation ?? opts.activation ?? (opts.gelu ? 'gelu_new' : undefined);
  const act = actName ? { fn: actFn(actName), backward: !!opts.dactivation } : null;
  const preact = act ? opts.preact ?? null : null;
  if (act && !preact) throw new TypeError(`gemm: the ${actName} epilogue needs a preact tensor`);
  if (act && opts.accumulate) throw new TypeError('gemm: an activation epilogue and accumulate cannot be combined');
  if (M === 0 || N === 0) return;
  floatType(out, 'out');
  floatType(a, 'a');
  floatType(b, 'b');
  if (bias) {
    floatType(bias, 'bias');
    if (bias.numel < N) throw new RangeError(`gemm: bias ${bias} needs ${N} elements`);
  }
  if (preact) floatType(preact, 'preact');
  const lowRank = opts.lowRank ?? null;
  if (lowRank) {
    floatType(lowRank.u, 'lowRank.u');
    floatType(lowRank.e, 'lowRank.e');
  }
  const p: Problem = { out, a, b, bias, preact, act: act?.fn ?? null, dact: !!act?.backward, lowRank, transA, transB, lda, ldb, ldc, variant: matmulVariant(gpu) };
  if (!transA && !lowRank && !p.dact && K > 0 && M <= gemvVariant(gpu).maxM && dispatchGemv(step, p, M, N, K, !!opts.accumulate)) return;
  launch(step, p, { M, N, K, a0: 0, b0: 0, c0: 0, bias0: 0, accumulate: !!opts.accumulate, withBias: !!bias, withLowRank: !!lowRank, u0: 0, e0: 0 });
}

/** Dispatch a block, first splitting it while a binding would pass the device limit or the grid 65535. */
function launch(step: Step, p: Problem, k: Block): void {
  const gpu = step.ctx;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize!;
  const maxGrid = gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const bytes = (t: Tensor, n: number) => n * DTYPE_BYTES[t.dtype] + 512; // + alignment slack
  const [gx, gy] = gemmGrid(p.variant, k.M, k.N);
  const cBig = bytes(p.out, (k.M - 1) * p.ldc + k.N) > maxBinding || gy > maxGrid;
  const aBig = bytes(p.a, extentA(p, k)) > maxBinding;
  const bBig = bytes(p.b, extentB(p, k)) > maxBinding;
  const unit = rowsPerWorkgroup(p.variant);
  const half = (n: number, u: number) => Math.max(1, Math.min(n - 1, Math.ceil(n / 2 / u) * u));
  if ((cBig && k.M > 1) || (aBig && !p.transA && k.M > 1)) {
    const m = half(k.M, unit);
    launch(step, p, { ...k, M: m });
    launch(step, p, { ...k, M: k.M - m, a0: k.a0 + m * (p.transA ? 1 : p.lda), c0: k.c0 + m * p.ldc, u0: k.u0 + m * (p.lowRank?.ldu ?? p.lowRank?.r ?? 0) });
    return;
  }
  if ((cBig && k.N > 1) || (bBig && p.transB && k.N > 1) || gx > maxGrid) {
    const n = half(k.N, 64);
    launch(step, p, { ...k, N: n });
    launch(step, p, { ...k, N: k.N - n, b0: k.b0 + n * (p.transB ? p.ldb : 1), c0: k.c0 + n, bias0: k.bias0 + n, e0: k.e0 + n * (p.lowRank?.sn ?? 0) });
    return;
  }
  if ((aBig || bBig) && k.K > 1) {
    if (p.preact) throw new BindingError(`gemm: operands larger than one binding (${maxBinding} bytes) need a split along K, which an activation epilogue cannot take`);
    const kk = half(k.K, 4);
    launch(step, p, { ...k, K: kk });
    launch(step, p, {
      ...k,
      K: k.K - kk,
      a0: k.a0 + kk * (p.transA ? p.lda : 1),
      b0: k.b0 + kk * (p.transB ? 1 : p.ldb),
      accumulate: true,
      withBias: false,
      withLowRank: false,
    });
    return;
  }
  dispatchBlock(step, p, k);
}

function dispatchBlock(step: Step, p: Problem, k: Block): void {
  const gpu = step.ctx;
  const ra = bindRange(gpu, p.a, k.a0, k.a0 + (k.K === 0 ? 1 : extentA(p, k)), 'a');
  const rb = bindRange(gpu, p.b, k.b0, k.b0 + (k.K === 0 ? 1 : extentB(p, k)), 'b');
  const rc = bindRange(gpu, p.out, k.c0, k.c0 + (k.M - 1) * p.ldc + k.N, 'out');
  const bias = k.withBias ? p.bias : null;
  const rbias = bias ? bindRange(gpu, bias, k.bias0, k.bias0 + k.N, 'bias') : null;
  const rp = p.preact ? bindRange(gpu, p.preact, k.c0, k.c0 + (k.M - 1) * p.ldc + k.N, 'preact') : null;
  const lr = k.withLowRank ? p.lowRank : null;
  const ldu = lr ? lr.ldu ?? lr.r : 0;
  const ru = lr ? bindRange(gpu, lr.u, k.u0, k.u0 + (k.M - 1) * ldu + lr.r, 'lowRank.u') : null;
  const re = lr ? bindRange(gpu, lr.e, k.e0, k.e0 + (k.N - 1) * lr.sn + (lr.r - 1) * lr.sj + 1, 'lowRank.e') : null;
  const vec = (r: Range | null, ld: number) => !r || (r.vecSafe && r.offset % 4 === 0 && ld % 4 === 0);
  const spec: GemmSpec = {
    variant: p.variant,
    transA: p.transA,
    transB: p.transB,
    vecA: vec(ra, p.lda),
    vecB: vec(rb, p.ldb),
    vecOut: vec(rc, p.ldc) && vec(rp, p.ldc),
    accumulate: k.accumulate,
    a: p.a.dtype as FloatType,
    b: p.b.dtype as FloatType,
    out: p.out.dtype as FloatType,
    bias: bias ? (bias.dtype as FloatType) : null,
    act: p.preact && p.act ? { fn: p.act, preact: p.preact.dtype as FloatType, backward: p.dact } : null,
    lowRank: lr ? { u: lr.u.dtype as FloatType, e: lr.e.dtype as FloatType } : null,
  };
  const params = {
    M: k.M,
    N: k.N,
    K: k.K,
    lda: p.lda,
    ldb: p.ldb,
    ldc: p.ldc,
    offA: ra.offset,
    offB: rb.offset,
    offC: rc.offset,
    offBias: rbias?.offset ?? 0,
    offP: rp?.offset ?? 0,
  };
  const bindings: Record<string, unknown> = { out: rc.binding, a: ra.binding, b: rb.binding, params };
  addEpilogueBindings(bindings, rbias, rp, lr, ru, re, ldu);
  step.dispatch(gemmSource(spec), bindings as Parameters<Step['dispatch']>[1], gemmGrid(p.variant, k.M, k.N), { flops: 2 * k.M * k.N * k.K });
}

/** The epilogue's bindings (bias, preact, the low-rank term) for matmul-wgsl.ts's store4; qmatmul.ts shares it. */
export function addEpilogueBindings(
  bindings: Record<string, unknown>, rbias: Range | null, rp: Range | null, lr: LowRankEpilogue | null, ru: Range | null, re: Range | null, ldu: number,
): void {
  if (rbias) bindings.bias = rbias.binding;
  if (rp) bindings.preact = rp.binding;
  if (lr) {
    bindings.lowRankU = ru!.binding;
    bindings.lowRankE = re!.binding;
    bindings.lowRank = { r: lr.r, ldu, sn: lr.sn, sj: lr.sj, offU: ru!.offset, offE: re!.offset };
  }
}

// ------------------------------------------------------------------------------------------------
// Skinny shapes (gemv.ts): M up to the variant's maxM, forward only (no transA, low-rank or dactivation).

/**
 * Lavapipe: 64 lanes, 4 rows per lane (the weight read once for up to 4 rows), four wide words per
 * k (NN: 32 f16 columns per lane; NT: 4 rows of b, a's loads shared by them). On a 4-layer
 * BioMedLM-width f16 model (AMD EPYC, 2 cores), greedy decoding 1.7 → 2.4 tokens/s against one wide
 * word; the NT lm_head 375 → 245 ms GPU time over 8 tokens.
 */
export const DEFAULT_GEMV_SOFTWARE: GemvVariant = { wg: 64, mr: 4, v: 4, maxM: 4 };
/** Real GPUs: one column per lane keeps enough lanes busy at N of a few thousand; M = 1 only until tuned. */
export const DEFAULT_GEMV: GemvVariant = { wg: 64, mr: 1, v: 1, maxM: 1 };

/** The skinny-GEMM variant per adapter: forced (setGemvVariant), tuned, or the default by adapter kind. */
export const gemvChoice = new TunedChoice<GemvVariant, void>({
  what: 'gemv',
  key: (gpu) => `gemv v1 | ${tuneKey(gpu)}`,
  problem: (_gpu, v) => gemvVariantProblem(v),
  forceError: (problem) => new BindingError(problem),
});

/** Use this gemv variant on this context (tests, benchmarks; maxM 0 turns the kernel off); null restores the default. */
export function setGemvVariant(gpu: GPUContext, variant: GemvVariant | null): void {
  gemvChoice.force(gpu, variant);
}

export function gemvVariant(gpu: GPUContext): GemvVariant {
  return gemvChoice.variant(gpu, undefined, () => (isSoftwareAdapter(gpu) ? DEFAULT_GEMV_SOFTWARE : DEFAULT_GEMV));
}

/**
 * Record p as gemv dispatches: one, or for an NT weight larger than one binding (the f16 lm_head
 * at 2560 × 28896 passes lavapipe's 128 MiB) one per block of b rows. False (nothing recorded) when
 * an operand still passes one binding or the grid its limit: then the tiled gemm splits it.
 */
function dispatchGemv(step: Step, p: Problem, M: number, N: number, K: number, accumulate: boolean): boolean {
  const gpu = step.ctx;
  // no more rows per lane than M: at M = 1 a 4-row lane would do 4 rows of FMAs for one
  const tuned = gemvVariant(gpu);
  const variant = tuned.mr > M ? { ...tuned, mr: M } : tuned;
  const maxBinding = gpu.limits.maxStorageBufferBindingSize!;
  const per = gemvColumnsPerWorkgroup({ variant, transB: p.transB, b: p.b.dtype as FloatType });
  const bytesB = DTYPE_BYTES[p.b.dtype];
  const slack = 512 + 8 * bytesB;
  // NT: rows of b per block, a whole number of workgroups; NN: the whole weight in one binding
  const rows = p.transB ? Math.floor((maxBinding - slack) / (p.ldb * bytesB) / per) * per : N;
  const whole: Block = { M, N, K, a0: 0, b0: 0, c0: 0, bias0: 0, accumulate, withBias: !!p.bias, withLowRank: false, u0: 0, e0: 0 };
  if (rows < 1 || (!p.transB && extentB(p, whole) * bytesB + slack > maxBinding)) return false;
  if ((extentA(p, whole) + 4) * DTYPE_BYTES[p.a.dtype] + 512 > maxBinding) return false;
  if (Math.ceil(Math.min(N, rows) / per) > (gpu.limits.maxComputeWorkgroupsPerDimension ?? 65535)) return false;
  for (let n = 0; n < N; n += rows) {
    const w = Math.min(rows, N - n);
    gemvBlock(step, p, variant, { ...whole, N: w, b0: n * p.ldb, c0: n, bias0: n }, per);
  }
  return true;
}

function gemvBlock(step: Step, p: Problem, variant: GemvVariant, k: Block, per: number): void {
  const gpu = step.ctx;
  const W = gemvWideElems(p.b.dtype as FloatType);
  const ra = bindRange(gpu, p.a, k.a0, k.a0 + extentA(p, k), 'a');
  const rb = bindRange(gpu, p.b, k.b0, k.b0 + extentB(p, k), 'b', W);
  const rc = bindRange(gpu, p.out, k.c0, k.c0 + (k.M - 1) * p.ldc + k.N, 'out');
  const rbias = p.bias ? bindRange(gpu, p.bias, k.bias0, k.bias0 + k.N, 'bias') : null;
  const rp = p.preact ? bindRange(gpu, p.preact, k.c0, k.c0 + (k.M - 1) * p.ldc + k.N, 'preact') : null;
  const spec: GemvSpec = {
    variant,
    transB: p.transB,
    wideA: ra.vecSafe && ra.offset % 4 === 0 && (k.M === 1 || p.lda % 4 === 0),
    wideB: rb.vecSafe && rb.offset % W === 0 && p.ldb % W === 0,
    accumulate: k.accumulate,
    a: p.a.dtype as FloatType,
    b: p.b.dtype as FloatType,
    out: p.out.dtype as FloatType,
    bias: p.bias ? (p.bias.dtype as FloatType) : null,
    act: p.preact && p.act ? { fn: p.act, preact: p.preact.dtype as FloatType } : null,
  };
  const params = { M: k.M, N: k.N, K: k.K, lda: p.lda, ldb: p.ldb, ldc: p.ldc, offA: ra.offset, offB: rb.offset, offC: rc.offset, offBias: rbias?.offset ?? 0, offP: rp?.offset ?? 0 };
  const bindings: Record<string, unknown> = { out: rc.binding, a: ra.binding, b: rb.binding, params };
  if (rbias) bindings.bias = rbias.binding;
  if (rp) bindings.preact = rp.binding;
  const name = gemvName(spec);
  const source = sources(name, () => ({ name, code: gemvWgsl(spec) }));
  step.dispatch(source, bindings as Parameters<Step['dispatch']>[1], [Math.ceil(k.N / per), Math.ceil(k.M / variant.mr)], { flops: 2 * k.M * k.N * k.K });
}

/**
 * dbias[N] += Σ_m dout[m, n] over dout [M,N] (packed rows), in a fixed order: each of 16 row
 * slices sums its rows in order, then a fixed tree adds the slices. Deterministic.
 */
export function biasBackward(step: Step, dbias: Tensor /* [N] */, dout: Tensor /* [M,N] */, M: number, N: number): void {
  if (M === 0 || N === 0) return;
  const gpu = step.ctx;
  const dt = floatType(dbias, 'dbias');
  const dd = floatType(dout, 'dout');
  const rd = bindRange(gpu, dout, 0, M * N, 'dout');
  const rbias = bindRange(gpu, dbias, 0, N, 'dbias');
  const vec = rd.vecSafe && rd.offset % 4 === 0 && N % 4 === 0;
  const params = { M, N, ldd: N, offD: rd.offset, offBias: rbias.offset };
  const groups = Math.ceil(N / (4 * BIAS_BX));
  step.dispatch(biasSource(dt, dd, vec), { dbias: rbias.binding, dout: rd.binding, params }, [groups]);
}

/**
 * out[BT,OC] = inp[BT,C] · weight[C,OC] + bias[OC]; with `act`, preact[BT,OC] gets that and
 * out = act(preact) (activation default gelu_new).
 */
export function matmulForward(
  step: Step,
  out: Tensor /* [BT,OC] */,
  inp: Tensor /* [BT,C] */,
  weight: Tensor /* [C,OC] */,
  bias: Tensor | null /* [OC] */,
  BT: number,
  C: number,
  OC: number,
  act?: { preact: Tensor /* [BT,OC] */; activation?: Activation },
): void {
  gemm(step, out, inp, weight, { M: BT, N: OC, K: C, bias, activation: act ? act.activation ?? 'gelu_new' : undefined, preact: act?.preact });
}

/**
 * dinp[BT,C] = dout · weightᵀ (overwritten), dweight[C,OC] += inpᵀ · dout, dbias[OC] += Σ_bt dout.
 * Any of dinp, dweight, dbias may be null to skip it. With `act` (inp = act(preact) of the layer
 * below), dinp is that layer's dpre instead: dout · weightᵀ ⊙ act'(preact), in the same pass.
 */
export function matmulBackward(
  step: Step,
  dinp: Tensor | null /* [BT,C] */,
  dweight: Tensor | null /* [C,OC] */,
  dbias: Tensor | null /* [OC] */,
  dout: Tensor /* [BT,OC] */,
  inp: Tensor /* [BT,C] */,
  weight: Tensor /* [C,OC] */,
  BT: number,
  C: number,
  OC: number,
  act?: { preact: Tensor /* [BT,C] */; activation?: Activation },
): void {
  const dactivation = act ? act.activation ?? 'gelu_new' : undefined;
  if (dinp) gemm(step, dinp, dout, weight, { M: BT, N: C, K: OC, transB: true, dactivation, preact: act?.preact });
  if (dweight) gemm(step, dweight, inp, dout, { M: C, N: OC, K: BT, transA: true, accumulate: true });
  if (dbias) biasBackward(step, dbias, dout, BT, OC);
}
