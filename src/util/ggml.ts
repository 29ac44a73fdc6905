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
  const nb = K / QK;
  const bytes = new Uint8Array(q.quants.buffer, q.quants.byteOffset, q.quants.byteLength);
  // Per column of the current block: the running max |x| (and, for q4_0, the signed value holding
  // it), then the inverse scale. Float32Arrays round each stored value to f32, as C floats.
  const amax = new Float32Array(N), vmax = new Float32Array(N), id = new Float32Array(N);
  for (let r0 = 0; r0 < rows; r0 += QK) {
    const b = (k0 + r0) / QK;
    amax.fill(0);
    vmax.fill(0);
    // Pass 1 over the block's 32 rows (contiguous in w): the max per column, rows in order so the
    // first of equal |x| wins (q4_0's strict <, as GGML).
    for (let j = 0; j < QK; j++) {
      const row = (r0 + j) * N;
      for (let n = 0; n < N; n++) {
        const v = w[row + n]!;
        const a = Math.abs(v);
        if (amax[n]! < a) {
          amax[n] = a;
          vmax[n] = v;
        }
      }
    }
    for (let n = 0; n < N; n++) {
      const d = type === 'q8_0' ? Math.fround(amax[n]! / 127) : Math.fround(vmax[n]! / -8);
      id[n] = d ? Math.fround(1 / d) : 0;
      q.scales[n * nb + b] = f32ToF16Bits(d);
    }
    // Pass 2: the integers.
    for (let j = 0; j < QK; j++) {
      const row = (r0 + j) * N;
      for (let n = 0; n < N; n++) {
        const x = Math.fround(w[row + n]! * id[n]!);
        const blk = n * nb + b;
        if (type === 'q8_0') {
          // roundf: half away from zero (|x| ≤ 127, so |x| + 0.5 is exact in float64).
          const r = x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
          bytes[blk * 32 + j] = r & 0xff;
        } else {
          // (int8_t)(x + 8.5f) truncates; x + 8.5 lies in [0.5, 16.5] since |x·id| ≤ 8 up to rounding.
          const v = Math.min(15, Math.trunc(Math.fround(x + 8.5)));
          const at = blk * 16 + (j & 15);
          bytes[at] = j < 16 ? (bytes[at]! & 0xf0) | v : (bytes[at]! & 0x0f) | (v << 4);
        }
      }
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
