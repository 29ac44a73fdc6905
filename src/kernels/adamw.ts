// AdamW over all parameters at once (llm.c's gpt2_update), with gradient unscaling, global-norm
// clipping, an overflow skip and an optional f16 copy of the weights.
//
//   params          [N] f32  master weights, updated in place
//   grads           [N] f32  gradients as produced by the backward (multiplied by the loss scale)
//   m, v            [N] f32  Adam moments, updated in place
//   paramsLowp      [N] f16  f16(params) written in the same pass, or null
//   decayMask       [ceil(N/32)] u32  bit i set: element i gets weight decay (createDecayMask)
//   hyper           [ADAMW_HYPER_SIZE] f32  per-step scalars, layout ADAMW_HYPER (writeAdamwHyper)
//   normSq          [1] f32  Σ grads² (globalNormSquared over the scaled grads)
//   lossScaleState  [4] f32  [scale, goodSteps, growthInterval, lastStepSkipped] (reduce.ts), or null for scale 1
//
// A one-thread prologue turns (normSq, loss scale, gradClip) into the factor every gradient is
// multiplied by and the skip flag, stored in hyper's derived slots; then one dispatch (a 2D grid,
// 4 elements per invocation with vec4 loads) updates every element, plus a one-workgroup dispatch
// for the last N % 4 elements when N is not a multiple of 4:
//   g = grads * gradScale, gradScale = clip / lossScale, clip = gradClip / ‖g‖ when ‖g‖ > gradClip > 0
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;  mhat = m / (1-b1^t);  vhat = v / (1-b2^t)
//   p = p - lr * (mhat / (sqrt(vhat) + eps) + wd_i * p)
// in llm.c's operation order, so the f32 result matches its CPU update to rounding.
// If normSq is not finite (an f16 overflow somewhere, or a NaN), nothing is written: params, m, v
// and paramsLowp keep their bits. The prologue keeps the main kernel at 7 storage bindings (WebGPU's
// default limit is 8). Tensors larger than the device's binding limit are updated in several
// dispatches of equal element ranges (e.g. 124M parameters under a 128 MiB limit: 4).
// Per-step order in a training step: globalNormSquared(normSq, grads) -> adamwUpdate(...) ->
// lossScaleUpdate(state, normSq), so the update unscales by the scale the backward used.

import type { GPUContext, Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const WG = 256;

/** Slots of the hyper tensor. 0..7 are written by writeAdamwHyper; 8..11 by the GPU each step. */
export const ADAMW_HYPER = {
  lr: 0,
  beta1: 1,
  beta2: 2,
  eps: 3,
  weightDecay: 4,
  /** 1 - beta1^t, rounded like llm.c's `1.0f - powf(beta1, t)` */
  biasCorrection1: 5,
  biasCorrection2: 6,
  /** Clip the global gradient norm to this; 0 = no clipping. */
  gradClip: 7,
  /** Derived: clip / lossScale, the factor on every gradient. */
  gradScale: 8,
  /** Derived: 1 when this step was skipped (normSq not finite). */
  skipped: 9,
  /** Derived: the unscaled global gradient norm sqrt(normSq) / lossScale, for logging. */
  gradNorm: 10,
  /** Derived: the loss scale the gradients were divided by. */
  lossScale: 11,
} as const;
export const ADAMW_HYPER_SIZE = 16;

export interface AdamwHyperparameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** The step number, from 1. */
  t: number;
  /** Global-norm clip threshold; 0 or undefined = no clipping. */
  gradClip?: number;
}

/** Allocate the hyper tensor ([ADAMW_HYPER_SIZE] f32). */
export function createAdamwHyper(gpu: GPUContext, label = 'adamw.hyper'): Tensor {
  return gpu.tensor([ADAMW_HYPER_SIZE], 'f32', label);
}

/**
 * Upload this step's hyperparameters (queued: it lands before the next submit). The bias
 * corrections are computed as llm.c does in f32: 1 - powf(beta, t).
 */
export function writeAdamwHyper(gpu: GPUContext, hyper: Tensor, h: AdamwHyperparameters): void {
  if (hyper.dtype !== 'f32' || hyper.numel !== ADAMW_HYPER_SIZE) throw new TypeError(`writeAdamwHyper: ${hyper} must be f32[${ADAMW_HYPER_SIZE}]`);
  if (!(Number.isInteger(h.t) && h.t >= 1)) throw new RangeError(`writeAdamwHyper: t must be an integer >= 1, got ${h.t}`);
  const f = Math.fround;
  const data = new Float32Array(ADAMW_HYPER_SIZE);
  data[ADAMW_HYPER.lr] = h.lr;
  data[ADAMW_HYPER.beta1] = h.beta1;
  data[ADAMW_HYPER.beta2] = h.beta2;
  data[ADAMW_HYPER.eps] = h.eps;
  data[ADAMW_HYPER.weightDecay] = h.weightDecay;
  data[ADAMW_HYPER.biasCorrection1] = f(1 - f(Math.pow(f(h.beta1), h.t)));
  data[ADAMW_HYPER.biasCorrection2] = f(1 - f(Math.pow(f(h.beta2), h.t)));
  data[ADAMW_HYPER.gradClip] = h.gradClip ?? 0;
  data[ADAMW_HYPER.gradScale] = 1;
  gpu.upload(hyper, data);
}

/**
 * A bitmask over the N flat parameters: bit i of word i>>5 set where element i gets weight decay.
 * Elements outside every segment get none. Returns a [max(1, ceil(N/32))] u32 tensor.
 */
export function createDecayMask(gpu: GPUContext, segments: { offset: number; length: number; decay: boolean }[], N: number, label = 'adamw.decayMask'): Tensor {
  const words = new Uint32Array(Math.max(1, Math.ceil(N / 32)));
  for (const s of segments) {
    if (!(Number.isInteger(s.offset) && Number.isInteger(s.length) && s.offset >= 0 && s.length >= 0 && s.offset + s.length <= N)) {
      throw new RangeError(`createDecayMask: segment ${JSON.stringify(s)} is outside [0, ${N})`);
    }
    if (!s.decay) continue;
    for (let i = s.offset, end = s.offset + s.length; i < end; ) {
      // whole words where possible
      if ((i & 31) === 0 && i + 32 <= end) {
        words[i >>> 5] = 0xffffffff;
        i += 32;
      } else {
        words[i >>> 5]! |= 1 << (i & 31);
        i++;
      }
    }
  }
  return gpu.tensor([words.length], 'u32', label, words);
}

const IS_FINITE = /* wgsl */ `
fn isFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }`;

const sources = kernelSourceCache();

function prologueKernel(scaled: boolean): KernelSource {
  return sources(`prologue:${scaled}`, () => ({
    name: `adamw_prologue${scaled ? '_scaled' : ''}`,
    code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> hyper: array<f32, ${ADAMW_HYPER_SIZE}>;
@group(0) @binding(1) var<storage, read> normSq: array<f32>;
${scaled ? '@group(0) @binding(2) var<storage, read> lossScaleState: array<f32>;' : ''}
${IS_FINITE}
@compute @workgroup_size(1)
fn main() {
  let lossScale = ${scaled ? 'lossScaleState[0]' : '1.0'};
  let ns = normSq[0];
  let gradClip = hyper[${ADAMW_HYPER.gradClip}];
  let norm = sqrt(ns) / lossScale;
  var clip = 1.0;
  if (gradClip > 0.0 && norm > gradClip) { clip = gradClip / norm; }
  hyper[${ADAMW_HYPER.gradScale}] = clip / lossScale;
  hyper[${ADAMW_HYPER.skipped}] = select(0.0, 1.0, !isFinite(ns));
  hyper[${ADAMW_HYPER.gradNorm}] = norm;
  hyper[${ADAMW_HYPER.lossScale}] = lossScale;
}`,
  }));
}

/**
 * The per-element update. W = 4: each invocation updates 4 consecutive elements with vec4 loads and
 * stores (about twice as fast as scalar on CPU implementations; no worse on GPUs); W = 1 updates
 * elements start..N-1 one per invocation, for the < 4 elements left over when N % 4 != 0.
 */
function updateKernel(lowp: boolean, W: 1 | 4): KernelSource {
  return sources(`update:${lowp}:${W}`, () => updateSource(lowp, W));
}

function updateSource(lowp: boolean, W: 1 | 4): KernelSource {
  const H = ADAMW_HYPER;
  const [VF, VL] = W === 4 ? ['vec4f', 'vec4<f16>'] : ['f32', 'f16'];
  // Weight decay per element from the mask bits. base is a multiple of 4, so a quad's 4 bits
  // never straddle two words.
  const decay = W === 4
    ? /* wgsl */ `let e = dims.base + 4u * i;
  let bits = vec4u((decayMask[e >> 5u] >> (e & 31u)) & 15u) & vec4u(1u, 2u, 4u, 8u);
  let weightDecay = select(vec4f(0.0), vec4f(hyper[${H.weightDecay}]), bits != vec4u(0u));`
    : /* wgsl */ `let e = dims.base + i;
  let weightDecay = select(0.0, hyper[${H.weightDecay}], ((decayMask[e >> 5u] >> (e & 31u)) & 1u) != 0u);`;
  return {
    name: `adamw_update${W === 4 ? '_vec4' : ''}${lowp ? '_f16copy' : ''}`,
    code: /* wgsl */ `${lowp ? 'enable f16;\n' : ''}
// N, start: this dispatch's range in units of W elements; base: element offset of the bound ranges
// in the whole flat parameter set, for the decay mask.
struct Dims { N: u32, start: u32, base: u32 }
@group(0) @binding(0) var<storage, read_write> params: array<${VF}>;
@group(0) @binding(1) var<storage, read> grads: array<${VF}>;
@group(0) @binding(2) var<storage, read_write> m: array<${VF}>;
@group(0) @binding(3) var<storage, read_write> v: array<${VF}>;
${lowp ? `@group(0) @binding(4) var<storage, read_write> paramsLowp: array<${VL}>;` : ''}
@group(0) @binding(5) var<storage, read> decayMask: array<u32>;
@group(0) @binding(6) var<storage, read> hyper: array<f32, ${ADAMW_HYPER_SIZE}>;
@group(0) @binding(7) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let i = dims.start + (wid.y * nwg.x + wid.x) * ${WG}u + lid.x;
  if (i >= dims.N || hyper[${H.skipped}] != 0.0) { return; }
  let lr = hyper[${H.lr}];
  let beta1 = hyper[${H.beta1}];
  let beta2 = hyper[${H.beta2}];
  let eps = hyper[${H.eps}];
  ${decay}

  // llm.c's order of operations, so the f32 results match its CPU update to rounding.
  let grad = grads[i] * hyper[${H.gradScale}];
  let mNew = beta1 * m[i] + (1.0 - beta1) * grad;
  let vNew = beta2 * v[i] + (1.0 - beta2) * grad * grad;
  let mHat = mNew / hyper[${H.biasCorrection1}];
  let vHat = vNew / hyper[${H.biasCorrection2}];
  let param = params[i];
  let updated = param - lr * (mHat / (sqrt(vHat) + eps) + weightDecay * param);
  m[i] = mNew;
  v[i] = vNew;
  params[i] = updated;
${lowp ? `  // out-of-range f32 -> f16 conversion is undefined in WGSL: saturate
  paramsLowp[i] = ${VL}(clamp(updated, ${VF}(-65504.0), ${VF}(65504.0)));` : ''}
}`,
  };
}

/**
 * One AdamW step over all N parameters (see the header for the math).
 *   params          [N] f32, in/out
 *   grads           [N] f32 (scaled by the loss scale)
 *   m, v            [N] f32, in/out
 *   paramsLowp      [N] f16 out, or null
 *   decayMask       [ceil(N/32)] u32 (createDecayMask)
 *   hyper           [ADAMW_HYPER_SIZE] f32 (writeAdamwHyper); slots 8..11 are written here
 *   normSq          [1] f32
 *   lossScaleState  [4] f32 or null
 */
export function adamwUpdate(
  step: Step,
  params: Tensor,
  grads: Tensor,
  m: Tensor,
  v: Tensor,
  paramsLowp: Tensor | null,
  decayMask: Tensor,
  hyper: Tensor,
  normSq: Tensor,
  lossScaleState: Tensor | null,
  N: number,
): void {
  for (const [name, t] of [['params', params], ['grads', grads], ['m', m], ['v', v]] as const) {
    if (t.dtype !== 'f32' || t.numel < N) throw new TypeError(`adamwUpdate: ${name} ${t} must be f32 with at least N=${N} elements`);
  }
  if (paramsLowp && (paramsLowp.dtype !== 'f16' || paramsLowp.numel < N)) throw new TypeError(`adamwUpdate: paramsLowp ${paramsLowp} must be f16[N]`);
  if (decayMask.dtype !== 'u32' || decayMask.numel < Math.ceil(N / 32)) throw new TypeError(`adamwUpdate: decayMask ${decayMask} must be u32[ceil(N/32)]`);
  if (hyper.dtype !== 'f32' || hyper.numel !== ADAMW_HYPER_SIZE) throw new TypeError(`adamwUpdate: hyper ${hyper} must be f32[${ADAMW_HYPER_SIZE}]`);

  const prologueBindings: Record<string, Tensor> = { hyper, normSq: normSq.view([1]) };
  if (lossScaleState) prologueBindings.lossScaleState = lossScaleState.view([1]);
  step.dispatch(prologueKernel(lossScaleState !== null), prologueBindings, 1);

  // Elements per chunk: the f32 bindings stay under the device limit; a multiple of 1024 keeps the
  // f32 and f16 view offsets 256-byte aligned and the mask quads inside words.
  const chunk = Math.floor(step.ctx.limits.maxStorageBufferBindingSize! / 4 / 1024) * 1024;
  for (let base = 0; base < N; base += chunk) {
    const n = Math.min(chunk, N - base);
    const quads = Math.floor(n / 4);
    const rest = n - 4 * quads;
    const view = (t: Tensor, len: number) => t.view([len], base);
    if (quads > 0) {
      const bindings: Record<string, Tensor | Record<string, number>> = {
        params: view(params, 4 * quads),
        grads: view(grads, 4 * quads),
        m: view(m, 4 * quads),
        v: view(v, 4 * quads),
        decayMask,
        hyper,
        dims: { N: quads, start: 0, base },
      };
      if (paramsLowp) bindings.paramsLowp = view(paramsLowp, 4 * quads);
      step.dispatch(updateKernel(paramsLowp !== null, 4), bindings, grid2d(Math.ceil(quads / WG)));
    }
    if (rest > 0) {
      const bindings: Record<string, Tensor | Record<string, number>> = {
        params: view(params, n),
        grads: view(grads, n),
        m: view(m, n),
        v: view(v, n),
        decayMask,
        hyper,
        dims: { N: n, start: 4 * quads, base },
      };
      if (paramsLowp) bindings.paramsLowp = view(paramsLowp, n);
      step.dispatch(updateKernel(paramsLowp !== null, 1), bindings, 1);
    }
  }
}

function grid2d(groups: number): [number, number] {
  const gy = Math.ceil(groups / 65535);
  return [Math.ceil(groups / gy), gy];
}
