// GPT-2's embedding: token plus position (llm.c encoder_forward / encoder_backward).
//
// forward (1 pass, a row of 8 lanes per (b, t), 8 rows per workgroup, vec4 where C % 4 == 0):
//   out [B, T, C] f16|f32 = wte[inp[b, t]] + wpe[t]
//   inp [B, T] i32 token ids;  wte [Vp, C] f16|f32;  wpe [maxT, C] f16|f32
//
// backward (2 passes, both deterministic: every sum runs in an order fixed by the batch):
//   1. token rows: a row of 8 lanes per distinct token u of the batch, striding over channels:
//        dwte[u, c] += Σ dout[p, c] over the positions p holding u, in increasing p
//   2. positions: per (t, c), 4 vec4 per thread:  dwpe[t, c] += Σ_b dout[b, t, c], b = 0..B-1
//   dwte [Vp, C] f32 +=;  dwpe [maxT, C] f32 +=;  dout [B, T, C] f16|f32
//
// WGSL has no float atomics, so instead of scattering, the backward gathers: the token ids are on the
// CPU when a batch is uploaded, and EncoderBackwardPlan.update groups the positions by token there
// (a sort of (token, position) keys) and uploads that grouping:
//   positions   [maxBT] u32   positions sorted by (token, position)
//   bucketStart [maxBT + 1] u32  positions[bucketStart[k] .. bucketStart[k+1]) hold token bucketToken[k]
//   bucketToken [maxBT] u32   the distinct tokens, increasing
// Nothing is read back; the plan's buffers are written with queue.writeBuffer before the next submit.
//
// A wte / dwte over the device's per-binding limit (GPT-2's f32 dwte is 154 MB against WebGPU's
// default 128 MiB) is bound in pieces of whole rows, one dispatch per piece: the forward's rows skip
// tokens outside the piece, and the backward takes the piece's contiguous run of buckets.

import type { GPUContext, Step } from '../gpu/context';
import { MQGError } from '../util/errors';
import type { KernelSource } from '../gpu/kernel';
import { kernelSourceCache } from '../gpu/sources';
import type { Tensor } from '../gpu/tensor';

const LANES = 8;
const ROWS = 8;
const WG = LANES * ROWS;
/** dwpe units (vec4 or scalar) per invocation, a workgroup apart. */
const POSITION_UNITS_PER_THREAD = 4;

/** For tests: bind wte / dwte in pieces of at most this many bytes (default: the device's limit). */
export const encoderOptions = { maxBindingBytes: Infinity };

/**
 * Row ranges [start, start + count) of a [rows, C] table whose pieces each fit one binding. GPT-2's
 * f32 dwte ([50304, 768], 154 MB) is over WebGPU's default 128 MiB limit. Pieces start on
 * 256-byte boundaries, as binding offsets must.
 */
function tablePieces(gpu: GPUContext, table: Tensor, C: number): { start: number; count: number }[] {
  const rows = table.numel / C;
  const rowBytes = (table.byteLength / table.numel) * C;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize!, encoderOptions.maxBindingBytes);
  if (rows * rowBytes <= limit) return [{ start: 0, count: rows }];
  const align = 256 / gcd(256, rowBytes);
  const perPiece = Math.floor(limit / rowBytes / align) * align;
  if (perPiece === 0) throw new RangeError(`encoder: one row of ${table} does not fit a binding of ${limit} bytes`);
  const pieces = [];
  for (let start = 0; start < rows; start += perPiece) pieces.push({ start, count: Math.min(perPiece, rows - start) });
  return pieces;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** First index in the increasing array `xs` whose value is >= x. */
function lowerBound(xs: Uint32Array, x: number): number {
  let lo = 0, hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

type Float = 'f16' | 'f32';

function floatType(t: Tensor, kernel: string, what: string): Float {
  if (t.dtype !== 'f16' && t.dtype !== 'f32') throw new TypeError(`${kernel}: ${what} must be f16 or f32, got ${t}`);
  return t.dtype;
}

function grid2d(n: number): [number, number] {
  const x = Math.min(n, 65535);
  return [x, Math.ceil(n / x)];
}

const memo = kernelSourceCache();

// vec4 access where C % 4 == 0: a "unit" is a vec4 or a scalar, n = C / width units per row.
function vecType(t: Float | 'f32', width: 1 | 4): string {
  return width === 4 ? `vec4<${t}>` : t;
}

function toF32(width: 1 | 4, expr: string): string {
  return width === 4 ? `vec4f(${expr})` : `f32(${expr})`;
}

function enables(...types: Float[]): string {
  return types.includes('f16') ? 'enable f16;\n' : '';
}

// ROWS rows of LANES lanes per workgroup, as in layernorm: on lavapipe a workgroup launch costs
// about as much as 64 invocations' arithmetic, so each holds several rows.
const ROW_OF_LANES = /* wgsl */ `
  let lane = lid % ${LANES}u;
  let index = (wg.x + wg.y * groups.x) * ${ROWS}u + lid / ${LANES}u;`;

function forwardKernel(out: Float, wte: Float, wpe: Float, width: 1 | 4): KernelSource {
  return memo(`fwd:${out}:${wte}:${wpe}:${width}`, () => ({
    name: `encoder_forward_${out}_${wte}_${wpe}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(out, wte, wpe)}
struct Dims { BT: u32, T: u32, n: u32, tokenStart: u32, tokenCount: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<${vecType(out, width)}>;
@group(0) @binding(1) var<storage, read> inp: array<i32>;
@group(0) @binding(2) var<storage, read> wte: array<${vecType(wte, width)}>;
@group(0) @binding(3) var<storage, read> wpe: array<${vecType(wpe, width)}>;
@group(0) @binding(4) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${ROW_OF_LANES}
  let row = index; // b * T + t
  if (row >= dims.BT) { return; }
  // wte may be bound in pieces of tokenCount rows (see encoderForward); ids are validated on the CPU.
  let token = u32(inp[row]) - dims.tokenStart;
  if (token >= dims.tokenCount) { return; }
  let n = dims.n;
  let tokenRow = token * n;
  let positionRow = (row % dims.T) * n;
  for (var i = lane; i < n; i += ${LANES}u) {
    out[row * n + i] = ${vecType(out, width)}(${toF32(width, 'wte[tokenRow + i]')} + ${toF32(width, 'wpe[positionRow + i]')});
  }
}
`,
  }));
}

function tokenGradKernel(dout: Float, width: 1 | 4): KernelSource {
  return memo(`dwte:${dout}:${width}`, () => ({
    name: `encoder_backward_wte_${dout}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dout)}
struct Dims { firstBucket: u32, buckets: u32, tokenStart: u32, n: u32 }
@group(0) @binding(0) var<storage, read_write> dwte: array<${vecType('f32', width)}>;
@group(0) @binding(1) var<storage, read> dout: array<${vecType(dout, width)}>;
@group(0) @binding(2) var<storage, read> positions: array<u32>;
@group(0) @binding(3) var<storage, read> bucketStart: array<u32>;
@group(0) @binding(4) var<storage, read> bucketToken: array<u32>;
@group(0) @binding(5) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  ${ROW_OF_LANES}
  if (index >= dims.buckets) { return; }
  let bucket = dims.firstBucket + index;
  let n = dims.n;
  let first = bucketStart[bucket];
  let end = bucketStart[bucket + 1u];
  let tokenRow = (bucketToken[bucket] - dims.tokenStart) * n; // dwte may be bound in pieces
  for (var i = lane; i < n; i += ${LANES}u) {
    var sum = ${vecType('f32', width)}(0.0);
    for (var k = first; k < end; k++) { sum += ${toF32(width, 'dout[positions[k] * n + i]')}; }
    dwte[tokenRow + i] += sum;
  }
}
`,
  }));
}

function positionGradKernel(dout: Float, width: 1 | 4): KernelSource {
  return memo(`dwpe:${dout}:${width}`, () => ({
    name: `encoder_backward_wpe_${dout}${width === 4 ? '_vec4' : ''}`,
    code: /* wgsl */ `${enables(dout)}
struct Dims { B: u32, Tn: u32 }
@group(0) @binding(0) var<storage, read_write> dwpe: array<${vecType('f32', width)}>;
@group(0) @binding(1) var<storage, read> dout: array<${vecType(dout, width)}>;
@group(0) @binding(2) var<uniform> dims: Dims;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) groups: vec3u, @builtin(local_invocation_index) lid: u32) {
  let first = (wg.x + wg.y * groups.x) * ${WG * POSITION_UNITS_PER_THREAD}u + lid;
  for (var j = 0u; j < ${POSITION_UNITS_PER_THREAD}u; j++) {
    let i = first + j * ${WG}u; // t * n + unit
    if (i >= dims.Tn) { return; }
    var sum = ${vecType('f32', width)}(0.0);
    for (var b = 0u; b < dims.B; b++) { sum += ${toF32(width, 'dout[b * dims.Tn + i]')}; }
    dwpe[i] += sum;
  }
}
`,
  }));
}

/**
 * The batch's positions grouped by token, on the GPU, for a deterministic encoderBackward.
 * Allocated once for up to maxBT positions; `update` is called with each batch's token ids.
 */
export interface EncoderBackwardPlan {
  readonly maxBT: number;
  /** Token ids must be < Vp (when given). */
  readonly Vp: number | undefined;
  /** Positions in the last update (B*T), and how many distinct tokens they hold. */
  readonly BT: number;
  readonly buckets: number;
  readonly positions: Tensor; // [maxBT] u32
  readonly bucketStart: Tensor; // [maxBT + 1] u32
  readonly bucketToken: Tensor; // [maxBT] u32
  /** The distinct tokens of the last update, increasing (a CPU copy of bucketToken[0..buckets)). */
  readonly distinctTokens: Uint32Array;
  /** Validates the ids, groups positions by token on the CPU, and writes the plan's buffers. */
  update(tokens: ArrayLike<number>): void;
  destroy(): void;
}

/** Allocates a plan for batches of up to maxBT = B*T tokens; `Vp` (padded vocabulary) bounds the ids. */
export function createEncoderBackwardPlan(gpu: GPUContext, maxBT: number, Vp?: number): EncoderBackwardPlan {
  if (!Number.isInteger(maxBT) || maxBT <= 0) throw new RangeError(`createEncoderBackwardPlan: maxBT must be a positive integer, got ${maxBT}`);
  const positions = gpu.tensor([maxBT], 'u32', 'encoder.positions');
  const bucketStart = gpu.tensor([maxBT + 1], 'u32', 'encoder.bucketStart');
  const bucketToken = gpu.tensor([maxBT], 'u32', 'encoder.bucketToken');
  const keys = new Float64Array(maxBT);
  const sortedPositions = new Uint32Array(maxBT);
  const starts = new Uint32Array(maxBT + 1);
  const tokensOut = new Uint32Array(maxBT);
  const plan = {
    maxBT,
    Vp,
    BT: 0,
    buckets: 0,
    positions,
    bucketStart,
    bucketToken,
    distinctTokens: tokensOut.subarray(0, 0),
    update(tokens: ArrayLike<number>): void {
      const n = tokens.length;
      if (n > maxBT) throw new RangeError(`EncoderBackwardPlan.update: ${n} tokens, but the plan was made for at most ${maxBT}`);
      for (let p = 0; p < n; p++) {
        const id = tokens[p]!;
        if (!Number.isInteger(id) || id < 0 || (Vp !== undefined && id >= Vp)) {
          throw new MQGError(`EncoderBackwardPlan.update: token id ${id} at position ${p} is outside [0, ${Vp ?? 'Vp'})`);
        }
      }
      // Sort (token, position) pairs as token * n + position: exact in float64 for any real vocabulary.
      const key = keys.subarray(0, n);
      for (let p = 0; p < n; p++) key[p] = tokens[p]! * n + p;
      key.sort();
      let buckets = 0;
      let previous = -1;
      for (let i = 0; i < n; i++) {
        const token = Math.floor(key[i]! / n);
        sortedPositions[i] = key[i]! - token * n;
        if (token !== previous) {
          starts[buckets] = i;
          tokensOut[buckets++] = token;
          previous = token;
        }
      }
      starts[buckets] = n;
      if (n > 0) {
        gpu.writeBytes(positions.buffer, positions.offset, sortedPositions.subarray(0, n));
        gpu.writeBytes(bucketStart.buffer, bucketStart.offset, starts.subarray(0, buckets + 1));
        gpu.writeBytes(bucketToken.buffer, bucketToken.offset, tokensOut.subarray(0, buckets));
      }
      plan.BT = n;
      plan.buckets = buckets;
      plan.distinctTokens = tokensOut.subarray(0, buckets);
    },
    destroy(): void {
      positions.buffer.destroy();
      bucketStart.buffer.destroy();
      bucketToken.buffer.destroy();
    },
  };
  return plan;
}

/** out[b, t] = wte[inp[b, t]] + wpe[t]. */
export function encoderForward(
  step: Step,
  out: Tensor, // [B, T, C] f16|f32
  inp: Tensor, // [B, T] i32 token ids
  wte: Tensor, // [Vp, C] f16|f32
  wpe: Tensor, // [maxT, C] f16|f32
  B: number,
  T: number,
  C: number,
): void {
  const BT = B * T;
  if (out.numel !== BT * C) throw new RangeError(`encoderForward: out ${out} should have B*T*C = ${BT * C} elements`);
  if (inp.numel !== BT || inp.dtype !== 'i32') throw new RangeError(`encoderForward: inp ${inp} should be i32 with B*T = ${BT} elements`);
  if (wte.numel % C !== 0) throw new RangeError(`encoderForward: wte ${wte} is not [Vp, ${C}]`);
  if (wpe.numel < T * C) throw new RangeError(`encoderForward: wpe ${wpe} has fewer than T = ${T} rows of ${C}`);
  const width = C % 4 === 0 ? 4 : 1;
  const k = forwardKernel(floatType(out, 'encoderForward', 'out'), floatType(wte, 'encoderForward', 'wte'), floatType(wpe, 'encoderForward', 'wpe'), width);
  const wpeUsed = wpe.numel === T * C ? wpe : wpe.view([T * C]);
  for (const { start, count } of tablePieces(step.ctx, wte, C)) {
    const piece = count * C === wte.numel ? wte : wte.view([count, C], start * C);
    step.dispatch(k, { out, inp, wte: piece, wpe: wpeUsed, dims: { BT, T, n: C / width, tokenStart: start, tokenCount: count } }, grid2d(Math.ceil(BT / ROWS)));
  }
}

/** dwte[token] += dout at each of its positions; dwpe[t] += Σ_b dout[b, t]. Deterministic. */
export function encoderBackward(
  step: Step,
  dwte: Tensor, // [Vp, C] f32, +=
  dwpe: Tensor, // [maxT, C] f32, +=
  dout: Tensor, // [B, T, C] f16|f32
  plan: EncoderBackwardPlan, // updated with this batch's tokens
  B: number,
  T: number,
  C: number,
): void {
  const BT = B * T;
  if (plan.BT !== BT) throw new RangeError(`encoderBackward: the plan holds ${plan.BT} positions (its last update), but B*T = ${BT}`);
  if (dout.numel !== BT * C) throw new RangeError(`encoderBackward: dout ${dout} should have B*T*C = ${BT * C} elements`);
  if (dwte.dtype !== 'f32' || dwpe.dtype !== 'f32') throw new TypeError(`encoderBackward: dwte and dwpe must be f32, got ${dwte}, ${dwpe}`);
  if (dwte.numel % C !== 0) throw new RangeError(`encoderBackward: dwte ${dwte} is not [Vp, ${C}]`);
  if (dwpe.numel < T * C) throw new RangeError(`encoderBackward: dwpe ${dwpe} has fewer than T = ${T} rows of ${C}`);
  const doutType = floatType(dout, 'encoderBackward', 'dout');
  const width = C % 4 === 0 ? 4 : 1;
  const n = C / width;
  const { positions, bucketStart, bucketToken } = plan;
  for (const { start, count } of tablePieces(step.ctx, dwte, C)) {
    // The buckets are sorted by token, so this piece's tokens are a contiguous run of them.
    const firstBucket = lowerBound(plan.distinctTokens, start);
    const buckets = lowerBound(plan.distinctTokens, start + count) - firstBucket;
    if (buckets === 0) continue;
    const piece = count * C === dwte.numel ? dwte : dwte.view([count, C], start * C);
    step.dispatch(
      tokenGradKernel(doutType, width),
      { dwte: piece, dout, positions, bucketStart, bucketToken, dims: { firstBucket, buckets, tokenStart: start, n } },
      grid2d(Math.ceil(buckets / ROWS)),
    );
  }
  const TC = T * C;
  step.dispatch(positionGradKernel(doutType, width), { dwpe: dwpe.numel === TC ? dwpe : dwpe.view([TC]), dout, dims: { B, Tn: T * n } }, grid2d(Math.ceil((T * n) / (WG * POSITION_UNITS_PER_THREAD))));
}
