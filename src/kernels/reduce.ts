// Deterministic reductions to one f32, and the GPU side of dynamic loss scaling.
//
//   sumReduce          out[0] = scale * Σ inp[i]          inp: [N] f32 or f16
//   globalNormSquared  out[0] = Σ grads[i]²               grads: [N] f32 (or f16)
//   lossScaleUpdate    state: [4] f32 = [scale, goodSteps, growthInterval, lastStepSkipped], from normSq: [1] f32
//
// Both reductions take two passes and a scratch buffer of reduceScratchSize(N) f32:
//   1. partial: the input is cut into chunks of REDUCE_CHUNK elements (64 MiB of f32, under WebGPU's
//      default 128 MiB binding limit, so every device splits the same way); each chunk is summed by
//      G workgroups, each thread walking a fixed grid-stride sequence (vec4 loads into 4 running
//      sums when the chunk length is a multiple of 4) and the workgroup finishing with a fixed tree,
//      into scratch[partialOffset + g].
//   2. final: one workgroup sums all partials in the same fixed way into out[0].
// The order of every addition depends only on N, so the result is bit-identical from run to run and
// across devices that round f32 correctly. Accumulation is f32; with at most 64 values summed
// sequentially per accumulator (256 in the scalar variant, used only for a chunk whose length is not
// a multiple of 4), then trees, the relative error stays near 1e-7 for sums of squares.
// inf and NaN propagate through the sums: that is the overflow check for mixed precision.

import type { Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const WG = 256;
/** Elements per partial-pass dispatch (and per binding): 2^24 f32 = 64 MiB. */
export const REDUCE_CHUNK = 1 << 24;
/**
 * At most this many workgroups (partials) per chunk: 2^24 / (256 * 256) = 256 values per thread
 * (64 per vec4 lane). Fewer, longer workgroups: on CPU implementations each workgroup's barriers
 * cost more than its loads (4096 groups ran 7x slower than 256 on lavapipe), while 64K threads
 * still keep a GPU's loads in flight.
 */
const MAX_GROUPS = 256;
/** Each thread sums at least this many values before the trees, so small inputs use few workgroups. */
const MIN_PER_THREAD = 4;

function groupsFor(n: number): number {
  return Math.max(1, Math.min(MAX_GROUPS, Math.ceil(n / (WG * MIN_PER_THREAD))));
}

/** f32 elements of scratch that sumReduce / globalNormSquared need for N inputs. */
export function reduceScratchSize(N: number): number {
  let total = 0;
  for (let start = 0; start < N; start += REDUCE_CHUNK) total += groupsFor(Math.min(REDUCE_CHUNK, N - start));
  return Math.max(total, 1);
}

// One workgroup-wide tree over `tree` (WG floats): fixed pairing, so a fixed order.
const TREE_SUM = /* wgsl */ `
var<workgroup> tree: array<f32, ${WG}>;
fn treeSum(lid: u32, value: f32) -> f32 {
  tree[lid] = value;
  workgroupBarrier();
  for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) { tree[lid] = tree[lid] + tree[lid + stride]; }
    workgroupBarrier();
  }
  return tree[0];
}`;

const partialKernels = kernelSourceCache();

/**
 * W = 4 reads vec4s into four running sums (half the time of scalar loads on CPU implementations);
 * W = 1 is for a chunk whose length is not a multiple of 4. N counts steps of W elements.
 */
function partialKernel(dtype: 'f16' | 'f32', square: boolean, W: 1 | 4): KernelSource {
  return partialKernels(`${dtype}:${square}:${W}`, () => {
    const [VF, VS] = W === 4 ? ['vec4f', `vec4<${dtype}>`] : ['f32', dtype];
    const term = square ? 'x * x' : 'x';
    const total = W === 4 ? '(acc.x + acc.y) + (acc.z + acc.w)' : 'acc';
    return {
      name: `reduce_partial_${square ? 'sumsq' : 'sum'}_${dtype}${W === 4 ? '_vec4' : ''}`,
      code: /* wgsl */ `${dtype === 'f16' ? 'enable f16;\n' : ''}
struct Dims { N: u32, partialOffset: u32 }
@group(0) @binding(0) var<storage, read_write> partials: array<f32>;
@group(0) @binding(1) var<storage, read> inp: array<${VS}>;
@group(0) @binding(2) var<uniform> dims: Dims;
${TREE_SUM}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  let stride = nwg.x * ${WG}u;
  var acc = ${VF}(0.0);
  for (var i = wid.x * ${WG}u + lid; i < dims.N; i = i + stride) {
    let x = ${VF}(inp[i]);
    acc = acc + ${term};
  }
  let total = treeSum(lid, ${total});
  if (lid == 0u) { partials[dims.partialOffset + wid.x] = total; }
}`,
    };
  });
}

const FINAL: KernelSource = {
  name: 'reduce_final',
  code: /* wgsl */ `
struct Dims { count: u32, scale: f32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<uniform> dims: Dims;
${TREE_SUM}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid3: vec3u) {
  let lid = lid3.x;
  var acc = 0.0;
  for (var i = lid; i < dims.count; i = i + ${WG}u) { acc = acc + partials[i]; }
  let total = treeSum(lid, acc);
  if (lid == 0u) { out[0] = total * dims.scale; }
}`,
};

function reduce(step: Step, out: Tensor, inp: Tensor, N: number, scratch: Tensor, square: boolean, scale: number): void {
  if (inp.dtype !== 'f32' && inp.dtype !== 'f16') throw new TypeError(`reduce: ${inp} must be f32 or f16`);
  if (inp.numel < N) throw new RangeError(`reduce: ${inp} has fewer than N=${N} elements`);
  if (out.dtype !== 'f32' || out.numel < 1) throw new TypeError(`reduce: out ${out} must be f32 with at least 1 element`);
  const need = reduceScratchSize(N);
  if (scratch.dtype !== 'f32' || scratch.numel < need) {
    throw new RangeError(`reduce: scratch ${scratch} must be f32 with at least reduceScratchSize(${N}) = ${need} elements`);
  }
  let partialOffset = 0;
  for (let start = 0; start < N; start += REDUCE_CHUNK) {
    const n = Math.min(REDUCE_CHUNK, N - start);
    const groups = groupsFor(n);
    const W = n % 4 === 0 ? 4 : 1;
    const dims = { N: n / W, partialOffset };
    step.dispatch(partialKernel(inp.dtype, square, W), { partials: scratch, inp: inp.view([n], start), dims }, groups);
    partialOffset += groups;
  }
  if (N === 0) {
    // Nothing summed: write 0 through the final pass over one zeroed partial.
    step.clear(scratch.view([1]));
    partialOffset = 1;
  }
  step.dispatch(FINAL, { out: out.view([1]), partials: scratch, dims: { count: partialOffset, scale } }, 1);
}

/**
 * out[0] = scale * Σ_{i<N} inp[i], deterministic (fixed order). E.g. the mean loss: scale = 1/BT.
 *   out      [1] f32
 *   inp      [N] f32 or f16
 *   scratch  [reduceScratchSize(N)] f32, overwritten
 */
export function sumReduce(step: Step, out: Tensor, inp: Tensor, N: number, scratch: Tensor, scale = 1): void {
  reduce(step, out, inp, N, scratch, false, scale);
}

/**
 * out[0] = Σ_{i<N} grads[i]², deterministic (fixed order); inf/NaN anywhere make it non-finite.
 *   out      [1] f32
 *   grads    [N] f32
 *   scratch  [reduceScratchSize(N)] f32, overwritten
 */
export function globalNormSquared(step: Step, out: Tensor, grads: Tensor, N: number, scratch: Tensor): void {
  reduce(step, out, grads, N, scratch, true, 1);
}

/** Indices into the loss-scale state tensor ([4] f32). */
export const LOSS_SCALE_STATE = { scale: 0, goodSteps: 1, growthInterval: 2, lastStepSkipped: 3 } as const;
/** The loss scale never grows beyond this: past 2^24, scaled gradients overflow f16 almost surely. */
export const MAX_LOSS_SCALE = 2 ** 24;

/** Initial values for the loss-scale state: e.g. scale 2^16, grow after 2000 clean steps. */
export function lossScaleInit(scale = 65536, growthInterval = 2000): Float32Array {
  return new Float32Array([scale, 0, growthInterval, 0]);
}

// Finite test on the bits, so no fast-math assumption can fold it away.
const IS_FINITE = /* wgsl */ `
fn isFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }`;

const LOSS_SCALE_UPDATE: KernelSource = {
  name: 'loss_scale_update',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> state: array<f32, 4>;
@group(0) @binding(1) var<storage, read> normSq: array<f32>;
${IS_FINITE}
@compute @workgroup_size(1)
fn main() {
  var scale = state[0];
  var goodSteps = state[1];
  let growthInterval = state[2];
  if (!isFinite(normSq[0])) {
    scale = max(scale * 0.5, 1.0);
    goodSteps = 0.0;
    state[3] = 1.0;
  } else {
    goodSteps = goodSteps + 1.0;
    if (goodSteps >= growthInterval) {
      scale = min(scale * 2.0, ${MAX_LOSS_SCALE}.0);
      goodSteps = 0.0;
    }
    state[3] = 0.0;
  }
  state[0] = scale;
  state[1] = goodSteps;
}`,
};

/**
 * Dynamic loss scaling on the GPU, recorded after the optimizer step that used state[0]:
 * a non-finite normSq halves the scale (not below 1), resets goodSteps and sets lastStepSkipped = 1;
 * otherwise goodSteps += 1, and after growthInterval clean steps the scale doubles (up to 2^24).
 *   state   [4] f32 = [scale, goodSteps, growthInterval, lastStepSkipped], updated in place
 *   normSq  [1] f32 Σ g² of the scaled gradients (globalNormSquared)
 */
export function lossScaleUpdate(step: Step, state: Tensor, normSq: Tensor): void {
  step.dispatch(LOSS_SCALE_UPDATE, { state: state.view([4]), normSq: normSq.view([1]) }, 1);
}
