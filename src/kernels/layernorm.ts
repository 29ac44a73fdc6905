// Layer normalisation over channels, GPT-2 / llm.c conventions: biased variance, eps inside the sqrt.
//
// forward (1 pass; residualLayernormForward first forms res = inp + addend in the same pass):
//   out    [BT, C] f16|f32  (inp - mean) * rstd * weight + bias
//   mean   [BT]    f32      Σ_c inp / C
//   rstd   [BT]    f32      1 / sqrt(Σ_c (inp - mean)² / C + eps)   (two-pass: centred squares; eps a uniform, HF layer_norm_epsilon)
//   inp    [BT, C] f16|f32
//   weight [C]     f16|f32
//   bias   [C]     f16|f32
//
// backward (2 dispatches):
//   1. rows: dinp += (weight*dout - mean_c(weight*dout) - norm * mean_c(weight*dout*norm)) * rstd,
//      norm = (inp - mean) * rstd. Each row of a workgroup is a "slot" that takes rowsPerSlot rows
//      (BT split so there are ~128 slots). First, row by row, the two row means (one barrier each),
//      kept in workgroup memory; then, channel by channel over the slot's rows in order, dinp and
//      the slot's partial sums Σ dout*norm and Σ dout, written to scratch[slot, 0|1, :].
//   2. columns: one thread per (0|1, c) adds scratch[0..slots) in slot order into dweight[c] / dbias[c].
//   WGSL has no float atomics; with this split every addition happens in an order fixed by (BT, C),
//   so all three outputs are bit-identical from run to run.
//   dinp    [BT, C] f16|f32  +=  (it is the residual stream's gradient); optionally also written,
//                            rounded, to dinpCopy (the f16 copy the model's matmuls read)
//   dweight [C]     f32      +=
//   dbias   [C]     f32      +=
//   scratch [layernormBackwardScratchSize(BT, C)] f32, overwritten
//   dout    [BT, C] f16|f32;  inp [BT, C];  weight [C];  mean, rstd [BT] f32 (from the forward)
//
// Layout: a workgroup is `rows` rows × `lanes` lanes (LayernormLayout, default 8 × 8); the lanes of a
// row stride over its channels, as vec4 where C % 4 == 0. The layout is chosen per adapter and C by
// tuneRowKernels (tune/rows.ts) among layernormCandidates and kept in layernormChoice; the column
// pass has its own fixed size. The kernels re-read a row from cache rather than hold it in private arrays (on lavapipe that measured no faster, and its LLVM compiles them for seconds).
// Statistics and accumulation are f32 whatever the storage type.
// A row sum: each lane writes its partial to workgroup memory and after one barrier every lane of
// the row adds the row's partials in index order: a fixed order, one barrier, and no
// assumption about how a device groups invocations into subgroups (WGSL does not say). Few lanes
// and several rows per workgroup suit lavapipe, where a workgroup launch or a barrier costs about
// as much as 64 invocations' worth of arithmetic. On a discrete GPU a warp then spans 4 rows; 32
// lanes per row would likely suit it better at C = 768: the GPU candidates have 16 and 32.

import type { GPUContext, Step } from '../gpu/context';
import type { KernelSource } from '../gpu/kernel';
import type { DType, Tensor } from '../gpu/tensor';
import { isSoftwareAdapter } from '../gpu/adapter';
import { kernelSourceCache } from '../gpu/sources';
import { TunedChoice } from './tune/choice';
import { tuneKey } from './tune/store';

/** A workgroup of `rows` rows × `lanes` lanes per row (both powers of two, rows <= 64). */
export interface LayernormLayout {
  lanes: number;
  rows: number;
}

export const DEFAULT_LAYERNORM_LAYOUT: LayernormLayout = { lanes: 8, rows: 8 };

/**
 * What the tuner tries: on CPU adapters few lanes per row (a barrier costs there about as much as
 * 64 invocations' arithmetic, so fewer lanes sharing a row measured faster), on GPUs up to a warp
 * per row.
 */
export function layernormCandidates(gpu: GPUContext): LayernormLayout[] {
  return isSoftwareAdapter(gpu) ? CPU_LAYOUTS : GPU_LAYOUTS;
}

const layouts = (...p: [number, number][]) => p.map(([lanes, rows]) => ({ lanes, rows }));
const CPU_LAYOUTS = [DEFAULT_LAYERNORM_LAYOUT, ...layouts([4, 16], [4, 8], [2, 16], [2, 32], [1, 32])];
const GPU_LAYOUTS = [DEFAULT_LAYERNORM_LAYOUT, ...layouts([4, 16], [16, 4], [16, 8], [32, 2], [32, 4], [32, 8])];
/** Every layout some adapter may pick (setLayernormLayout takes these only): the scratch size bounds them all. */
export const LAYERNORM_LAYOUTS: readonly LayernormLayout[] = [...CPU_LAYOUTS, ...GPU_LAYOUTS.slice(2)];

/** The column pass of the backward (dweight, dbias): one thread per column. */
const COLUMN_WG = 64;
/** The backward's row pass aims for at most this many partial sums of dweight/dbias (a multiple of rows). */
const MAX_PARTIALS = 128;
/** Statistics of rows × rowsPerSlot rows sit in workgroup memory: at most this many (8 KiB). */
const MAX_SLOT_ROWS = 512;
/** Rows per slot are capped too; past BT = 4096 slots grow instead. */
const MAX_ROWS_PER_SLOT = 32;

const pow2 = (x: number) => Number.isInteger(x) && x >= 1 && (x & (x - 1)) === 0;

/** Why a layout is malformed ('' when it is not). */
export function layernormLayoutProblem(l: LayernormLayout): string {
  return pow2(l.lanes) && pow2(l.rows) && l.rows <= 64 && l.lanes * l.rows <= 256 && l.lanes * l.rows >= 1
    ? ''
    : `layout ${JSON.stringify(l)} needs lanes and rows powers of two, rows <= 64 and lanes·rows <= 256`;
}

export function layernormLayoutName(l: LayernormLayout): string {
  return `${l.lanes}x${l.rows}`;
}

/** Bumped whenever the kernels or the candidates change, so older records are ignored. */
export const LAYERNORM_TUNE_VERSION = 1;

/**
 * The layout per adapter and C: forced (setLayernormLayout), else recorded by tuneRowKernels under
 * `layernorm v1 C<C> <precision> | tuneKey`, else 8 × 8. Only LAYERNORM_LAYOUTS are accepted.
 */
export const layernormChoice = new TunedChoice<LayernormLayout, number>({
  what: 'layernorm',
  key: (gpu, C) => `layernorm v${LAYERNORM_TUNE_VERSION} C${C} ${gpu.precision} | ${tuneKey(gpu)}`,
  problem: (_, l) => (LAYERNORM_LAYOUTS.some((a) => a.lanes === l.lanes && a.rows === l.rows) ? '' : layernormLayoutProblem(l) || `layout ${layernormLayoutName(l)} is not one the scratch size allows for`),
});

/** Use this layout on this context regardless of tuning (tests, benchmarks); null restores the default. */
export function setLayernormLayout(gpu: GPUContext, layout: LayernormLayout | null): void {
  layernormChoice.force(gpu, layout);
}

/** The layout the launchers use for C channels: forced, else tuned (tuneRowKernels), else 8 × 8. */
export function layernormLayout(gpu: GPUContext, C: number): LayernormLayout {
  return layernormChoice.variant(gpu, C, () => DEFAULT_LAYERNORM_LAYOUT);
}

type Float = 'f16' | 'f32';

/** `vec4: false` forces the scalar kernels (tests use it to cover them with the same shapes). */
export const layernormOptions = { vec4: true };

function floatType(t: Tensor, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`layernorm: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

function expectNumel(t: Tensor, n: number, what: string, shape: string): void {
  if (t.numel !== n) throw new RangeError(`layernorm: ${what} ${t} should have ${shape} = ${n} elements`);
}

function expectDType(t: Tensor, dtype: DType, what: string): void {
  if (t.dtype !== dtype) throw new TypeError(`layernorm: ${what} must be ${dtype}, got ${t}`);
}

function maxRowsPerSlot(rows: number): number {
  return Math.min(MAX_ROWS_PER_SLOT, MAX_SLOT_ROWS / rows);
}

/** How the backward's row pass splits BT rows: each partial slot (one row of a workgroup) takes rowsPerSlot rows. */
function backwardLayout(BT: number, rows: number): { rowsPerSlot: number; blocks: number; partials: number } {
  const rowsPerSlot = Math.min(maxRowsPerSlot(rows), Math.max(1, Math.ceil(BT / MAX_PARTIALS)));
  const blocks = Math.ceil(BT / (rows * rowsPerSlot));
  return { rowsPerSlot, blocks, partials: blocks * rows };
}

/**
 * f32 elements of scratch that layernormBackward needs: [partials, 2, C], for whichever layout an
 * adapter picks. It is an upper bound for every BT' <= BT too (partials grow with BT), so one
 * allocation for the largest batch serves all smaller ones.
 */
export function layernormBackwardScratchSize(BT: number, C: number): number {
  return Math.max(...LAYERNORM_LAYOUTS.map((l) => backwardLayout(BT, l.rows).partials)) * 2 * C;
}

/** Workgroups for `n` independent items: a 2D grid once it passes the 65535 per-dimension limit. */
function grid2d(n: number): [number, number] {
  const x = Math.min(n, 65535);
  return [x, Math.ceil(n / x)];
}

// WGSL snippets for one storage element: vec4 of the storage type, or a scalar.
interface Vec {
  width: number;
  type(t: Float | 'f32'): string;
  f32(expr: string): string;
  sum(expr: string): string;
}

function vecOf(width: 1 | 4): Vec {
  return width === 4
    ? { width, type: (t) => `vec4<${t}>`, f32: (e) => `vec4f(${e})`, sum: (e) => `dot(${e}, vec4f(1.0))` }
    : { width, type: (t) => t, f32: (e) => `f32(${e})`, sum: (e) => e };
}

function enables(...types: Float[]): string {
  return types.includes('f16') ? 'enable f16;\n' : '';
}

// Sum `value` over the lanes of this invocation's row (see the header). Past 8 lanes the loop bound
// is the uniform dims.lanes (the same number): a constant bound has LLVM unroll 16 or 32 workgroup
// loads per sum, which took lavapipe 6 s to compile for one backward kernel.
function rowSumFn(T: string, { lanes }: LayernormLayout, WG: number): string {
  return /* wgsl */ `
fn rowSum(partials: ptr<workgroup, array<${T}, ${WG}>>, value: ${T}, lid: u32) -> ${T} {
  (*partials)[lid] = value;
  workgroupBarrier();
  let first = lid - lid % ${lanes}u;
  var sum = ${T}(0.0);
  for (var i = 0u; i < ${lanes > 8 ? 'dims.lanes' : `${lanes}u`}; i++) { sum += (*partials)[first + i]; }
  return sum;
}`;
}

const memo = kernelSourceCache();

/**
 * The forward kernel; with `add` (the addend's type) the fused residual form: res = inp + addend is
 * formed in f32, rounded once to res's type and written, and the row normalised is res as stored.
 */
function forwardKernel(layout: LayernormLayout, act: Float, out: Float, param: Float, width: 1 | 4, add: { addend: Float; res: Float } | null = null): KernelSource {
  const { lanes: LANES, rows: ROWS } = layout;
  const WG = LANES * ROWS;
  const key = `fwd:${layernormLayoutName(layout)}:${act}:${out}:${param}:${width}${add ? `:add:${add.addend}:${add.res}` : ''}`;
  return memo(key, () => {
    const v = vecOf(width);
    const row = add ? 'res' : 'inp'; // what passes 2 and 3 read
    const pass1 = add
      ? `let x = ${v.type(add.res)}(${v.f32('inp[base + i]')} + ${v.f32('addend[base + i]')});
      res[base + i] = x;
      s += ${v.sum(v.f32('x'))};`
      : `s += ${v.sum(v.f32('inp[base + i]'))};`;
    return {
      name: add
        ? `residual_layernorm_forward_${act}_${add.addend}_${add.res}_${out}_${param}${width === 4 ? '_vec4' : ''}${layoutSuffix(layout)}`
        : `layernorm_forward_${act}_${out}_${param}${width === 4 ? '_vec4' : ''}${layoutSuffix(layout)}`,
      code: /* wgsl */ `${enables(act, out, param, ...(add ? [add.addend, add.res] : []))}
struct Dims { BT: u32, C: u32, eps: f32, lanes: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${v.type(out)}>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> inp: array<${v.type(act)}>;
@group(0) @binding(4) var<storage, read> weight: array<${v.type(param)}>;
@group(0) @binding(5) var<storage, read> bias: array<${v.type(param)}>;
@group(0) @binding(6) var<uniform> dims: Dims;
${add ? `@group(0) @binding(7) var<storage, read> addend: array<${v.type(add.addend)}>;
@group(0) @binding(8) var<storage, read_write> res: array<${v.type(add.res)}>;` : ''}

// Two arrays so the second sum's writes cannot race the first sum's reads.
var<workgroup> sums: array<f32, ${WG}>;
var<workgroup> squares: array<f32, ${WG}>;
${rowSumFn('f32', layout, WG)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % ${LANES}u;
  let row = (wg.x + wg.y * groups.x) * ${ROWS}u + lid / ${LANES}u;
  let valid = row < dims.BT; // rows past BT still take part in the barriers
  let n = dims.C / ${width}u; // elements (vec4 or scalar) per row
  let base = row * n;
  var s = 0.0;
  if (valid) {
    for (var i = lane; i < n; i += ${LANES}u) {
      ${pass1}
    }
  }
  let m = rowSum(&sums, s, lid) / f32(dims.C);
  // Second pass over the (cached) row: the variance of centred values, not E[x²] - m².
  var q = 0.0;
  if (valid) {
    for (var i = lane; i < n; i += ${LANES}u) {
      let d = ${v.f32(`${row}[base + i]`)} - m;
      q += ${v.sum('d * d')};
    }
  }
  let r = 1.0 / sqrt(rowSum(&squares, q, lid) / f32(dims.C) + dims.eps);
  if (!valid) { return; }
  for (var i = lane; i < n; i += ${LANES}u) {
    let norm = (${v.f32(`${row}[base + i]`)} - m) * r;
    out[base + i] = ${v.type(out)}(norm * ${v.f32('weight[i]')} + ${v.f32('bias[i]')});
  }
  if (lane == 0u) {
    mean[row] = m;
    rstd[row] = r;
  }
}
`,
    };
  });
}

function backwardRowsKernel(layout: LayernormLayout, dinp: Float, dout: Float, act: Float, param: Float, width: 1 | 4, copy: Float | null = null): KernelSource {
  const { lanes: LANES, rows: ROWS } = layout;
  const WG = LANES * ROWS;
  return memo(`bwd:${layernormLayoutName(layout)}:${dinp}:${dout}:${act}:${param}:${width}${copy ? `:copy:${copy}` : ''}`, () => {
    const v = vecOf(width);
    const F = v.type('f32');
    return {
      name: `layernorm_backward_${dinp}_${dout}_${act}_${param}${width === 4 ? '_vec4' : ''}${copy ? `_copy${copy}` : ''}${layoutSuffix(layout)}`,
      code: /* wgsl */ `${enables(dinp, dout, act, param, ...(copy ? [copy] : []))}
struct Dims { BT: u32, C: u32, rowsPerSlot: u32, lanes: u32 }
@group(0) @binding(0) var<storage, read_write> dinp: array<${v.type(dinp)}>;
@group(0) @binding(1) var<storage, read_write> scratch: array<${F}>;
@group(0) @binding(2) var<storage, read> dout: array<${v.type(dout)}>;
@group(0) @binding(3) var<storage, read> inp: array<${v.type(act)}>;
@group(0) @binding(4) var<storage, read> weight: array<${v.type(param)}>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rstd: array<f32>;
@group(0) @binding(7) var<uniform> dims: Dims;
${copy ? `@group(0) @binding(8) var<storage, read_write> dinpCopy: array<${v.type(copy)}>;` : ''}

// Consecutive rows of a slot alternate between the two arrays, so one barrier per row suffices.
var<workgroup> evenRows: array<vec2f, ${WG}>;
var<workgroup> oddRows: array<vec2f, ${WG}>;
// Per (row of the slot, slot): mean_c(weight*dout), mean_c(weight*dout*norm), mean, rstd.
var<workgroup> rowStats: array<vec4f, ${ROWS * maxRowsPerSlot(ROWS)}>;
${rowSumFn('vec2f', layout, WG)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % ${LANES}u;
  let slotInGroup = lid / ${LANES}u;
  let slot = wg.x * ${ROWS}u + slotInGroup; // this row of the workgroup owns partial sum 'slot'
  let n = dims.C / ${width}u;
  let firstRow = wg.x * ${ROWS}u * dims.rowsPerSlot + slotInGroup;
  // Pass 1, row by row: the two row means the dinp formula needs.
  for (var k = 0u; k < dims.rowsPerSlot; k++) {
    let row = firstRow + k * ${ROWS}u;
    let valid = row < dims.BT;
    let base = row * n;
    var m = 0.0;
    var r = 0.0;
    var local = vec2f(0.0);
    if (valid) {
      m = mean[row];
      r = rstd[row];
      for (var i = lane; i < n; i += ${LANES}u) {
        let norm = (${v.f32('inp[base + i]')} - m) * r;
        let dnorm = ${v.f32('weight[i]')} * ${v.f32('dout[base + i]')};
        local += vec2f(${v.sum('dnorm')}, ${v.sum('dnorm * norm')});
      }
    }
    var total: vec2f;
    if ((k & 1u) == 0u) { total = rowSum(&evenRows, local, lid); }
    else { total = rowSum(&oddRows, local, lid); }
    if (lane == 0u) { rowStats[k * ${ROWS}u + slotInGroup] = vec4f(total / f32(dims.C), m, r); }
  }
  workgroupBarrier();
  // Pass 2, channel by channel over the slot's rows: dinp, and this slot's partial sums of dweight
  // and dbias (rows in order, in registers) into scratch[slot, 0|1, :].
  let dweightPartial = slot * 2u * n;
  let dbiasPartial = dweightPartial + n;
  for (var i = lane; i < n; i += ${LANES}u) {
    let w = ${v.f32('weight[i]')};
    var dweightSum = ${F}(0.0);
    var dbiasSum = ${F}(0.0);
    for (var k = 0u; k < dims.rowsPerSlot; k++) {
      let row = firstRow + k * ${ROWS}u;
      if (row >= dims.BT) { break; }
      let stats = rowStats[k * ${ROWS}u + slotInGroup];
      let at = row * n + i;
      let dy = ${v.f32('dout[at]')};
      let norm = (${v.f32('inp[at]')} - stats.z) * stats.w;
      let updated = ${v.type(dinp)}(${v.f32('dinp[at]')} + (w * dy - stats.x - norm * stats.y) * stats.w);
      dinp[at] = updated;${copy ? `
      dinpCopy[at] = ${v.type(copy)}(updated);` : ''}
      dweightSum += dy * norm;
      dbiasSum += dy;
    }
    scratch[dweightPartial + i] = dweightSum;
    scratch[dbiasPartial + i] = dbiasSum;
  }
}
`,
    };
  });
}

function backwardColumnsKernel(): KernelSource {
  return memo('bwdcols', () => ({
    name: 'layernorm_backward_params',
    code: /* wgsl */ `
struct Dims { C: u32, partials: u32 }
@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(2) var<storage, read> scratch: array<f32>;
@group(0) @binding(3) var<uniform> dims: Dims;

@compute @workgroup_size(${COLUMN_WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let j = gid.x; // 0..C: dweight, C..2C: dbias
  let width = 2u * dims.C;
  if (j >= width) { return; }
  var total = 0.0;
  for (var p = 0u; p < dims.partials; p++) { total += scratch[p * width + j]; }
  if (j < dims.C) { dweight[j] += total; } else { dbias[j - dims.C] += total; }
}
`,
  }));
}

/** The default layout keeps the kernels' names as they were; others say theirs. */
function layoutSuffix(l: LayernormLayout): string {
  return l.lanes === DEFAULT_LAYERNORM_LAYOUT.lanes && l.rows === DEFAULT_LAYERNORM_LAYOUT.rows ? '' : `_l${layernormLayoutName(l)}`;
}

/** vec4 access where every row starts on a multiple of 4 elements. */
function widthFor(C: number): 1 | 4 {
  return C % 4 === 0 && layernormOptions.vec4 ? 4 : 1;
}

/**
 * out = (inp - mean) / sqrt(var + eps) * weight + bias over the last dimension; also writes the
 * per-row mean and rstd that the backward needs. eps defaults to GPT-2's 1e-5.
 */
/** The shapes and dtypes both forward entry points require. */
function checkForward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, weight: Tensor, bias: Tensor, BT: number, C: number): void {
  expectNumel(out, BT * C, 'out', 'BT*C');
  expectNumel(inp, BT * C, 'inp', 'BT*C');
  expectNumel(mean, BT, 'mean', 'BT');
  expectNumel(rstd, BT, 'rstd', 'BT');
  expectNumel(weight, C, 'weight', 'C');
  expectNumel(bias, C, 'bias', 'C');
  expectDType(mean, 'f32', 'mean');
  expectDType(rstd, 'f32', 'rstd');
  expectDType(bias, weight.dtype, 'bias');
}

export function layernormForward(
  step: Step,
  out: Tensor, // [BT, C] f16|f32
  mean: Tensor, // [BT] f32
  rstd: Tensor, // [BT] f32
  inp: Tensor, // [BT, C] f16|f32
  weight: Tensor, // [C] f16|f32
  bias: Tensor, // [C] same dtype as weight
  BT: number,
  C: number,
  eps = 1e-5,
): void {
  checkForward(out, mean, rstd, inp, weight, bias, BT, C);
  const layout = layernormLayout(step.ctx, C);
  const k = forwardKernel(layout, floatType(inp, 'inp'), floatType(out, 'out'), floatType(weight, 'weight'), widthFor(C));
  step.dispatch(k, { out, mean, rstd, inp, weight, bias, dims: { BT, C, eps, lanes: layout.lanes } }, grid2d(Math.ceil(BT / layout.rows)));
}

/**
 * The residual add and the next layernorm in one pass (GPT-2's x + attn(ln_1(x)) followed by
 * ln_2, and x + mlp(ln_2(x)) followed by the next ln_1 or ln_f): res = inp + addend (formed in f32;
 * res is f32), then layernormForward of res. res must not overlap inp or addend.
 */
export function residualLayernormForward(
  step: Step,
  res: Tensor, // [BT, C] f32, written
  out: Tensor, // [BT, C] f16|f32
  mean: Tensor, // [BT] f32
  rstd: Tensor, // [BT] f32
  inp: Tensor, // [BT, C] f16|f32
  addend: Tensor, // [BT, C] f16|f32
  weight: Tensor, // [C] f16|f32
  bias: Tensor, // [C] same dtype as weight
  BT: number,
  C: number,
  eps = 1e-5,
): void {
  expectNumel(res, BT * C, 'res', 'BT*C');
  expectNumel(addend, BT * C, 'addend', 'BT*C');
  const overlaps = (a: Tensor, b: Tensor) => a.buffer === b.buffer && a.offset < b.offset + b.byteLength && b.offset < a.offset + a.byteLength;
  if (overlaps(res, inp) || overlaps(res, addend)) throw new RangeError(`layernorm: res ${res} must not overlap inp or addend`);
  checkForward(out, mean, rstd, inp, weight, bias, BT, C);
  // An f16 res would be normalised from the f32 sum in pass 1 but from the rounded, stored values
  // after it (compilers may drop an f32 → f16 → f32 round trip): the stream must be f32, as the model's is.
  expectDType(res, 'f32', 'res (the residual stream)');
  const add = { addend: floatType(addend, 'addend'), res: 'f32' as const };
  const layout = layernormLayout(step.ctx, C);
  const k = forwardKernel(layout, floatType(inp, 'inp'), floatType(out, 'out'), floatType(weight, 'weight'), widthFor(C), add);
  step.dispatch(k, { out, mean, rstd, inp, weight, bias, dims: { BT, C, eps, lanes: layout.lanes }, addend, res }, grid2d(Math.ceil(BT / layout.rows)));
}

/**
 * Accumulates the layernorm gradients: dinp += ..., dweight += Σ_rows dout*norm, dbias += Σ_rows dout.
 * Deterministic: two passes through `scratch`, no atomics.
 */
export function layernormBackward(
  step: Step,
  dinp: Tensor, // [BT, C] f16|f32, +=
  dweight: Tensor, // [C] f32, +=
  dbias: Tensor, // [C] f32, +=
  scratch: Tensor, // [layernormBackwardScratchSize(BT, C)] f32
  dout: Tensor, // [BT, C] f16|f32
  inp: Tensor, // [BT, C] f16|f32
  weight: Tensor, // [C] f16|f32
  mean: Tensor, // [BT] f32
  rstd: Tensor, // [BT] f32
  BT: number,
  C: number,
  dinpCopy?: Tensor, // [BT, C] f16|f32: the updated dinp again, in its own dtype (the model's f16 copy of dresidual for the next matmuls)
): void {
  expectNumel(dinp, BT * C, 'dinp', 'BT*C');
  if (dinpCopy) expectNumel(dinpCopy, BT * C, 'dinpCopy', 'BT*C');
  expectNumel(dout, BT * C, 'dout', 'BT*C');
  expectNumel(inp, BT * C, 'inp', 'BT*C');
  expectNumel(weight, C, 'weight', 'C');
  expectNumel(dweight, C, 'dweight', 'C');
  expectNumel(dbias, C, 'dbias', 'C');
  expectNumel(mean, BT, 'mean', 'BT');
  expectNumel(rstd, BT, 'rstd', 'BT');
  for (const [t, what] of [[dweight, 'dweight'], [dbias, 'dbias'], [scratch, 'scratch'], [mean, 'mean'], [rstd, 'rstd']] as const) {
    expectDType(t, 'f32', what);
  }
  const need = layernormBackwardScratchSize(BT, C);
  if (scratch.numel < need) throw new RangeError(`layernormBackward: scratch ${scratch} needs ${need} f32 (layernormBackwardScratchSize(${BT}, ${C}))`);
  if (BT === 0 || C === 0) return;
  const layout = layernormLayout(step.ctx, C);
  const { rowsPerSlot, blocks, partials } = backwardLayout(BT, layout.rows);
  const rowsKernel = backwardRowsKernel(layout, floatType(dinp, 'dinp'), floatType(dout, 'dout'), floatType(inp, 'inp'), floatType(weight, 'weight'), widthFor(C), dinpCopy ? floatType(dinpCopy, 'dinpCopy') : null);
  step.dispatch(rowsKernel, { dinp, scratch, dout, inp, weight, mean, rstd, dims: { BT, C, rowsPerSlot, lanes: layout.lanes }, ...(dinpCopy ? { dinpCopy } : {}) }, blocks);
  step.dispatch(backwardColumnsKernel(), { dweight, dbias, scratch, dims: { C, partials } }, Math.ceil((2 * C) / COLUMN_WG));
}

/** Allocates the scratch tensor layernormBackward needs for up to BT rows of C channels. */
export function createLayernormScratch(gpu: GPUContext, BT: number, C: number): Tensor {
  return gpu.tensor([layernormBackwardScratchSize(BT, C)], 'f32', 'layernorm.scratch');
}
