// Fused softmax cross-entropy: forward loss and backward dlogits in one kernel (llm.c's
// fused_classifier), the dlogits written over the logits.
//
//   losses     [BT] f32        out: -ln softmax(logits[i, :V])[targets[i]] (natural log)
//   logits     [BT, Vp] f16|f32 in: logits; out (backward): dlogits
//                              = (softmax - onehot(target)) * dlossMean * lossScale[0],
//                              0 in the padding columns V..Vp-1
//   targets    [BT] i32
//   lossScale  [1] f32         the current loss scale (1 without loss scaling)
//
// One workgroup per row, two passes over the row inside it (any V): pass 1 keeps a running max and
// a running sum of exp(x - max) per thread (the online softmax, as llm.c's CUDA classifier does),
// combined by a fixed tree; pass 2 writes dlogits. Rows are read as vec4 when Vp % 4 == 0.
// The loss is (max - x[target]) + ln(sum), from the max-subtracted sum rather than -ln(prob), so it
// stays accurate where the probability underflows.
// Rows whose target is ignoreIndex get loss 0 and dlogits 0. A target outside [0, V) that is not
// ignoreIndex gets a NaN loss and NaN dlogits: the NaN then reaches the gradient norm, so with loss
// scaling or the optimizer's finite check the step is skipped instead of silently training on it.
// Large inputs are split into several dispatches by rows so that no binding exceeds the device limit.

import type { GPUContext, Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import type { Tensor } from '../gpu/tensor';
import { kernelSourceCache } from '../gpu/sources';
import { TunedChoice } from './tune/choice';
import { tuneKey } from './tune/store';

/** Row elements per invocation step: 4 (vec4 loads) when Vp % 4 == 0, else 1. */
type Width = 1 | 4;

/**
 * `maxRowsPerDispatch` caps the rows of one dispatch below what the binding limit allows (tests use
 * it to run the split path on small inputs; it is rounded down to the binding-offset alignment).
 */
export const classifierOptions: { maxRowsPerDispatch: number } = { maxRowsPerDispatch: Infinity };

/**
 * Threads per row by default. Workgroup barriers are expensive on CPU implementations (on lavapipe,
 * 64 threads ran V=4096 rows twice as fast as 256), and a short row has little to share out; long
 * rows get 128 so a GPU still has enough threads in flight when BT is small. tuneRowKernels
 * (tune/rows.ts) picks among CROSS_ENTROPY_WORKGROUPS per adapter and row length.
 */
export function defaultCrossEntropyWorkgroup(V: number): number {
  return V <= 4096 ? 64 : 128;
}

/** Threads per row the tuner tries (powers of two: the reduction is a halving tree). */
export const CROSS_ENTROPY_WORKGROUPS: readonly number[] = [32, 64, 128, 256];

/** Bumped whenever the kernel or the candidates change, so older records are ignored. */
export const CROSS_ENTROPY_TUNE_VERSION = 1;

/** Threads per row per adapter and Vp: forced (setCrossEntropyWorkgroup), else recorded by tuneRowKernels under `crossentropy v1 Vp<Vp> <precision> | tuneKey`. */
export const crossEntropyChoice = new TunedChoice<number, number>({
  what: 'crossEntropy',
  key: (gpu, Vp) => `crossentropy v${CROSS_ENTROPY_TUNE_VERSION} Vp${Vp} ${gpu.precision} | ${tuneKey(gpu)}`,
  problem: (_, wg) => (CROSS_ENTROPY_WORKGROUPS.includes(wg) ? '' : `workgroup size ${wg} is not one of ${CROSS_ENTROPY_WORKGROUPS.join(', ')}`),
});

/** Use this many threads per row on this context regardless of tuning (tests, benchmarks); null restores the default. */
export function setCrossEntropyWorkgroup(gpu: GPUContext, wg: number | null): void {
  crossEntropyChoice.force(gpu, wg);
}

/** Threads per row for rows of V logits padded to Vp: forced, else tuned, else by V. */
export function crossEntropyWorkgroup(gpu: GPUContext, V: number, Vp: number): number {
  return crossEntropyChoice.variant(gpu, Vp, () => defaultCrossEntropyWorkgroup(V));
}

const kernels = kernelSourceCache();

function classifierKernel(dtype: 'f16' | 'f32', W: Width, WG: number): KernelSource {
  return kernels(`${dtype}:${W}:${WG}`, () => classifierSource(dtype, W, WG));
}

function classifierSource(dtype: 'f16' | 'f32', W: Width, WG: number): KernelSource {
  // VF/VU/VI: the per-step value types; load/store convert between storage and f32.
  const [VF, VU, VI, VS] = W === 4 ? ['vec4f', 'vec4u', 'vec4i', `vec4<${dtype}>`] : ['f32', 'u32', 'i32', dtype];
  const helpers = W === 4
    ? /* wgsl */ `
const LANE = vec4u(0u, 1u, 2u, 3u);
fn hmax(x: vec4f) -> f32 { return max(max(x.x, x.y), max(x.z, x.w)); }
fn hsum(x: vec4f) -> f32 { return (x.x + x.y) + (x.z + x.w); }
fn loadTarget(base: u32, t: u32) -> f32 { return f32(logits[base + t / 4u][t % 4u]); }`
    : /* wgsl */ `
const LANE = 0u;
fn hmax(x: f32) -> f32 { return x; }
fn hsum(x: f32) -> f32 { return x; }
fn loadTarget(base: u32, t: u32) -> f32 { return f32(logits[base + t]); }`;
  const name = `crossentropy_forward_backward_${dtype}${W === 4 ? '_vec4' : ''}_wg${WG}`;
  return {
    name,
    code: /* wgsl */ `${dtype === 'f16' ? 'enable f16;\n' : ''}
struct Dims { BT: u32, V: u32, Vp: u32, ignoreIndex: i32, dlossMean: f32, backward: u32 }
@group(0) @binding(0) var<storage, read_write> losses: array<f32>;
@group(0) @binding(1) var<storage, read_write> logits: array<${VS}>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read> lossScale: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;
${helpers}

// Below every real logit: the max of an empty range, and the value of masked lanes.
const LOWEST = -3.0e38;

var<workgroup> treeMax: array<f32, ${WG}>;
var<workgroup> treeSum: array<f32, ${WG}>;

// Combine per-thread (max, sum of exp(x - max)) pairs with a fixed tree: deterministic.
fn reduceSoftmax(lid: u32, localMax: f32, localSum: f32) -> vec2f {
  treeMax[lid] = localMax;
  treeSum[lid] = localSum;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      let m1 = treeMax[lid];
      let m2 = treeMax[lid + stride];
      let m = max(m1, m2);
      treeSum[lid] = treeSum[lid] * exp(m1 - m) + treeSum[lid + stride] * exp(m2 - m);
      treeMax[lid] = m;
    }
    workgroupBarrier();
  }
  return vec2f(treeMax[0], treeSum[0]);
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= dims.BT) { return; }
  let lid = lid3.x;
  let V = dims.V;
  let stepsV = (V + ${W - 1}u) / ${W}u;   // steps that hold real columns
  let stepsRow = dims.Vp / ${W}u;          // steps in the padded row
  let base = row * stepsRow;
  let tgt = targets[row];
  let valid = tgt >= 0 && u32(tgt) < V;
  // Runtime NaN (a constant NaN is a shader-creation error in WGSL).
  let nan = bitcast<f32>(0x7fc00000u + min(V, 0u));

  if (tgt == dims.ignoreIndex) {
    if (lid == 0u) { losses[row] = 0.0; }
    if (dims.backward != 0u) {
      for (var c = lid; c < stepsRow; c = c + ${WG}u) { logits[base + c] = ${VS}(0.0); }
    }
    return;
  }
  // Read before any thread overwrites the row with dlogits.
  var xTarget = nan;
  if (valid) { xTarget = loadTarget(base, u32(tgt)); }

  // Pass 1: running max and sum of exp(x - max) together (online softmax), one read of the row.
  var localMax = LOWEST;
  var localSum = 0.0;
  for (var c = lid; c < stepsV; c = c + ${WG}u) {
    let x = select(${VF}(LOWEST), ${VF}(logits[base + c]), LANE + ${W}u * c < ${VU}(V));
    let m = max(localMax, hmax(x));
    localSum = localSum * exp(localMax - m) + hsum(exp(x - m));
    localMax = m;
  }
  let softmax = reduceSoftmax(lid, localMax, localSum);
  let rowMax = softmax.x;
  let sum = softmax.y;
  // max - x[target] first: exact for nearby values, so large logits lose nothing to rounding.
  if (lid == 0u) { losses[row] = (rowMax - xTarget) + log(sum); }
  if (dims.backward == 0u) { return; }

  // Pass 2: dlogits over the whole padded row (padding columns get 0).
  let invSum = 1.0 / sum;
  var dscale = dims.dlossMean * lossScale[0];
  if (!valid) { dscale = nan; }
  for (var c = lid; c < stepsRow; c = c + ${WG}u) {
    let j = LANE + ${W}u * c;
    let p = exp(${VF}(logits[base + c]) - rowMax) * invSum;
    let d = (p - select(${VF}(0.0), ${VF}(1.0), ${VI}(j) == ${VI}(tgt))) * dscale;
    logits[base + c] = ${VS}(select(${VF}(0.0), d, j < ${VU}(V)));
  }
}`,
  };
}

export interface CrossEntropyOptions {
  /** Rows with this target get loss 0 and dlogits 0. Default -1. */
  ignoreIndex?: number;
  /** Write dlogits over the logits. Default true; false leaves the logits untouched (evaluation). */
  backward?: boolean;
  /**
   * d(loss)/d(losses[i]) for every non-ignored row: 1/(number of non-ignored targets), which only
   * the caller knows. Default 1/BT (every target counted).
   */
  dlossMean?: number;
}

/**
 * Fused softmax + cross-entropy forward and backward (dlogits written in place).
 *   losses     [BT] f32        out
 *   logits     [BT, Vp] f16|f32 in: logits, out: dlogits (padding columns 0) when backward
 *   targets    [BT] i32
 *   lossScale  [1] f32
 */
export function crossEntropyForwardBackward(
  step: Step,
  losses: Tensor,
  logits: Tensor,
  targets: Tensor,
  lossScale: Tensor,
  BT: number,
  V: number,
  Vp: number,
  opts: CrossEntropyOptions = {},
): void {
  if (logits.dtype !== 'f16' && logits.dtype !== 'f32') throw new TypeError(`crossEntropy: logits ${logits} must be f16 or f32`);
  if (!(V >= 1 && Vp >= V)) throw new RangeError(`crossEntropy: need 1 <= V <= Vp, got V=${V} Vp=${Vp}`);
  if (logits.numel < BT * Vp || losses.numel < BT || targets.numel < BT) {
    throw new RangeError(`crossEntropy: buffers too small for BT=${BT}, Vp=${Vp}: ${losses}, ${logits}, ${targets}`);
  }
  if (targets.dtype !== 'i32') throw new TypeError(`crossEntropy: targets ${targets} must be i32`);
  if (lossScale.dtype !== 'f32') throw new TypeError(`crossEntropy: lossScale ${lossScale} must be f32`);
  const ignoreIndex = opts.ignoreIndex ?? -1;
  const dims = {
    V,
    Vp,
    ignoreIndex,
    dlossMean: opts.dlossMean ?? 1 / BT,
    backward: opts.backward === false ? 0 : 1,
  };
  const W: Width = Vp % 4 === 0 ? 4 : 1;
  const kernel = classifierKernel(logits.dtype, W, crossEntropyWorkgroup(step.ctx, V, Vp));
  const scale = lossScale.view([1]);
  const rows = rowsPerDispatch(step, BT, Vp, logits.dtype === 'f16' ? 2 : 4);
  for (let r0 = 0; r0 < BT; r0 += rows) {
    const n = Math.min(rows, BT - r0);
    const bindings = {
      losses: losses.view([n], r0),
      logits: logits.view([n, Vp], r0 * Vp),
      targets: targets.view([n], r0),
      lossScale: scale,
      dims: { BT: n, ...dims },
    };
    step.dispatch(kernel, bindings, grid2d(n));
  }
}

/** The most rows one dispatch can bind: the logits binding stays under the device limit, and row
 * offsets keep the 256-byte binding alignment for logits (r*Vp*bytes) and losses/targets (r*4). */
function rowsPerDispatch(step: Step, BT: number, Vp: number, bytes: number): number {
  const maxBinding = step.ctx.limits.maxStorageBufferBindingSize!;
  const align = step.ctx.limits.minStorageBufferOffsetAlignment!;
  const rowBytes = Vp * bytes;
  const cap = classifierOptions.maxRowsPerDispatch;
  if (BT * rowBytes <= maxBinding && BT <= cap) return BT;
  const rowAlign = lcm(align / gcd(4, align), align / gcd(rowBytes % align || align, align));
  const fit = Math.min(Math.floor(maxBinding / rowBytes), cap);
  if (fit < rowAlign) throw new RangeError(`crossEntropy: rows of ${rowBytes} bytes are too large to split under the binding limit`);
  return Math.floor(fit / rowAlign) * rowAlign;
}

function grid2d(groups: number): [number, number] {
  const gy = Math.ceil(groups / 65535);
  return [Math.ceil(groups / gy), gy];
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}
