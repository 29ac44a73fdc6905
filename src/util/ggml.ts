// GGML's Q8_0 and Q4_0 weight quantization, bit for bit as ggml's quantize_row_q8_0_ref /
// quantize_row_q4_0_ref (ggml-quants.c), for the frozen matmul weights of a quantized base.
//
// A Conv1D weight is [K (in), N (out)] row-major (y = x·W). Each output column n is cut along K into
// blocks of 32 consecutive inputs x[0..31]; a block keeps one f16 scale d and 32 small integers:
//   Q8_0: amax = max|x|, d = amax/127, id = d ? 1/d : 0, q_j = roundf(x_j·id) (int8, half away from 0);
//         value = q_j · f32(f16(d)).                                         34 bytes per block (GGML)
//   Q4_0: max = the x of largest |x| (the first on ties, sign kept), d = max/-8, id = d ? 1/d : 0,
//         q_j = min(15, trunc(x_j·id + 8.5)) (4 bits); value = (q_j - 8) · f32(f16(d)).  18 bytes
// Everything in f32 (Math.fround after each operation, as C float arithmetic); f16(d) rounds to
// nearest even (util/f16.ts), as GGML_FP32_TO_FP16 does.
//
// Layout here (QuantizedMatrix), block b of column n is block index n·(K/32) + b:
//   scales: u16 [N·K/32] (f16 bits)
//   quants: u32 words holding bytes little-endian:
//     q8_0: 32 bytes per block at byte (n·K/32 + b)·32 + j: q_j as int8          -> u32 [N·K/4]
//     q4_0: 16 bytes per block at byte (n·K/32 + b)·16 + j: q_j in the low nibble,
//           q_{j+16} in the high nibble (GGML's block_q4_0.qs order)           -> u32 [N·K/8]
// Columns are contiguous so a GPU lane reading column n streams its K/32 blocks in order.

import { MQGError } from './errors';
import { f16BitsToF32, f32ToF16Bits } from './f16';

export type QuantType = 'q8_0' | 'q4_0';

/** Values per block. */
export const QK = 32;

/** Bytes per block of 32 values: q8_0 34, q4_0 18 (GGML's block_q8_0 / block_q4_0). */
export const QUANT_BLOCK_BYTES: Record<QuantType, number> = { q8_0: 34, q4_0: 18 };

/** Bytes of packed quants per block (QUANT_BLOCK_BYTES less the 2-byte scale). */
const QUANT_BYTES: Record<QuantType, number> = { q8_0: 32, q4_0: 16 };

/** A Conv1D weight [K (in), N (out)] quantized along K (layout in the module header). */
export interface QuantizedMatrix {
  type: QuantType;
  K: number;
  N: number;
  /** u16 [N·K/32]: f16 bits of each block's scale, block b of column n at n·(K/32) + b. */
  scales: Uint16Array;
  /** u32: q8_0 [N·K/4], q4_0 [N·K/8]; bytes as in the module header. */
  quants: Uint32Array;
}

export function isQuantType(s: string): s is QuantType {
  return s === 'q8_0' || s === 'q4_0';
}

/** Bytes GGML stores for a [K, N] weight: N·K/32 blocks of QUANT_BLOCK_BYTES. */
export function quantizedBytes(K: number, N: number, type: QuantType): number {
  return (N * K / QK) * QUANT_BLOCK_BYTES[type];
}

function checkShape(K: number, N: number, what: string): void {
  if (!Number.isInteger(K) || K <= 0 || K % QK !== 0) {
    throw new MQGError(`${what}: the input dimension K=${K} is not a positive multiple of ${QK}, so it cannot be cut into GGML blocks`);
  }
  if (!Number.isInteger(N) || N <= 0) throw new MQGError(`${what}: the output dimension N=${N} is not a positive integer`);
}

/** An all-zero quantized [K, N] matrix, to be filled by quantizeRows (streaming, 32 rows at a time or more). */
export function emptyQuantized(K: number, N: number, type: QuantType): QuantizedMatrix {
  checkShape(K, N, `quantize ${type}`);
  const blocks = (N * K) / QK;
  return { type, K, N, scales: new Uint16Array(blocks), quants: new Uint32Array((blocks * QUANT_BYTES[type]) / 4) };
}

/**
 * Quantize rows [k0, k0 + rows) of the weight into `q`, from `w` holding those rows row-major
 * ([rows, N]). k0 and rows are multiples of 32: each call fills whole blocks, so a loader can
 * stream a weight in by row slabs without holding it in f32.
 */
export function quantizeRows(q: QuantizedMatrix, w: Float32Array, k0: number, rows: number): void {
  const { K, N, type } = q;
  if (k0 % QK !== 0 || rows % QK !== 0 || k0 < 0 || k0 + rows > K) {
    throw new MQGError(`quantize ${type}: rows [${k0}, ${k0 + rows}) are not whole blocks of ${QK} inside K=${K}`);
  }
  if (w.length < rows * N) throw new MQGError(`quantize ${type}: ${rows} rows of ${N} need ${rows * N} values, got ${w.length}`);
  const bytes = new Uint8Array(q.quants.buffer, q.quants.byteOffset, q.quants.byteLength);
  // One block (32 rows of one column, stride N in w) at a time, column after column: the 32 rows'
  // cache lines serve 16 neighbouring columns, and each block's bytes are written contiguously and
  // whole (no read-modify-write), so the output's old contents never matter.
  for (let r0 = 0; r0 < rows; r0 += QK) {
    const b = (k0 + r0) / QK;
    if (type === 'q8_0') quantizeBlockRowQ8(q, bytes, w, r0 * N, b);
    else quantizeBlockRowQ4(q, bytes, w, r0 * N, b);
  }
}

// Both block-row quantizers keep every value as C float arithmetic would: |x| and comparisons are
// exact on f32 inputs; Math.fround after each division and product. The integer conversions use
// `| 0` (truncation) where GGML truncates or rounds half away from zero, which equals the float
// path for every finite input and maps NaN and ±Infinity as that path's `& 0xff` / min(15, ...) did.

/** Q8_0 blocks b of every column from the 32 rows of w starting at `base` ([32, N] row-major). */
function quantizeBlockRowQ8(q: QuantizedMatrix, bytes: Uint8Array, w: Float32Array, base: number, b: number): void {
  const { N, scales } = q;
  const nb = q.K / QK;
  for (let n = 0; n < N; n++) {
    let amax = 0;
    for (let j = 0, at = base + n; j < QK; j++, at += N) {
      const a = Math.abs(w[at]!);
      if (amax < a) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    const blk = n * nb + b;
    scales[blk] = f32ToF16Bits(d);
    // roundf (half away from zero) without a branch on the sign, which random signs mispredict:
    // floor(x + 0.5) rounds half up, exact in float64 as |x| ≤ 127; a negative half (t - x = 0.5
    // exactly, rare) goes one further down. The Uint8Array store keeps the int8's low byte, as `& 0xff`.
    for (let j = 0, at = base + n, o = blk * 32; j < QK; j++, at += N, o++) {
      const x = Math.fround(w[at]! * id);
      let t = Math.floor(x + 0.5);
      if (t - x === 0.5 && x < 0) t -= 1;
      bytes[o] = t;
    }
  }
}

/** Q4_0 blocks b of every column from the 32 rows of w starting at `base` ([32, N] row-major). */
function quantizeBlockRowQ4(q: QuantizedMatrix, bytes: Uint8Array, w: Float32Array, base: number, b: number): void {
  const { N, scales } = q;
  const nb = q.K / QK;
  const half = 16 * N; // rows j and j + 16 share a byte
  for (let n = 0; n < N; n++) {
    // the x of largest |x|, the first on ties (strict <), sign kept
    let amax = 0, vmax = 0;
    for (let j = 0, at = base + n; j < QK; j++, at += N) {
      const v = w[at]!;
      const a = Math.abs(v);
      if (amax < a) {
        amax = a;
        vmax = v;
      }
    }
    const d = Math.fround(vmax / -8);
    const id = d ? Math.fround(1 / d) : 0;
    const blk = n * nb + b;
    scales[blk] = f32ToF16Bits(d);
    // (int8_t)(x·id + 8.5f) truncates, clamped at 15: the clamp first so +Infinity gives 15, and
    // `| 0` maps NaN and -Infinity to 0 (y lies in [0.5, 16.5] for finite id)
    for (let j = 0, at = base + n, o = blk * 16; j < 16; j++, at += N, o++) {
      const ylo = Math.fround(Math.fround(w[at]! * id) + 8.5);
      const yhi = Math.fround(Math.fround(w[at + half]! * id) + 8.5);
      bytes[o] = (ylo >= 15 ? 15 : ylo | 0) | ((yhi >= 15 ? 15 : yhi | 0) << 4);
    }
  }
}

/** Quantize a row-major [K, N] f32 matrix (HF Conv1D layout) as GGML's Q8_0 / Q4_0 along K. K % 32 === 0, else an MQGError naming K. */
export function quantizeMatrix(w: Float32Array, K: number, N: number, type: QuantType): QuantizedMatrix {
  const q = emptyQuantized(K, N, type);
  if (w.length !== K * N) throw new MQGError(`quantize ${type}: a [${K}, ${N}] matrix has ${K * N} values, got ${w.length}`);
  quantizeRows(q, w, 0, K);
  return q;
}

/** The integer q_j of every value (q8_0: -128..127; q4_0: 0..15, not yet less 8), as [N·K] in block order. */
export function blockIntegers(q: QuantizedMatrix): Int32Array {
  const bytes = new Uint8Array(q.quants.buffer, q.quants.byteOffset, q.quants.byteLength);
  const count = q.N * q.K;
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (q.type === 'q8_0') out[i] = (bytes[i]! << 24) >> 24;
    else {
      const blk = Math.floor(i / QK), j = i % QK;
      const byte = bytes[blk * 16 + (j & 15)]!;
      out[i] = j < 16 ? byte & 15 : byte >> 4;
    }
  }
  return out;
}

/** Back to a row-major [K, N] f32 matrix: q·f32(f16(d)) (q8_0) or (q - 8)·f32(f16(d)) (q4_0), each product rounded to f32. */
export function dequantizeMatrix(q: QuantizedMatrix): Float32Array {
  const { K, N } = q;
  const nb = K / QK;
  const ints = blockIntegers(q);
  const bias = q.type === 'q4_0' ? 8 : 0;
  const out = new Float32Array(K * N); // Float32Array stores round the float64 product to f32, as C's q * d
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < nb; b++) {
      const d = f16BitsToF32(q.scales[n * nb + b]!);
      const base = (n * nb + b) * QK;
      for (let j = 0; j < QK; j++) out[(b * QK + j) * N + n] = (ints[base + j]! - bias) * d;
    }
  }
  return out;
}
