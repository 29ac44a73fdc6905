// GGML Q8_0 / Q4_0 quantization (src/util/ggml.ts) against hand-computed blocks (an all-zero block,
// roundf's halves, q4_0's ties of |max| with differing signs and its clamp at 15, the nibble order),
// against a direct per-block port of quantize_row_q8_0_ref / quantize_row_q4_0_ref on the golden
// BioMedLM-tiny base weights, and round-trip error bounds.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalName, parseSafetensors, toFloat32 } from '../../src/model/index';
import { MQGError } from '../../src/util/errors';
import { f16BitsToF32, f32ToF16Bits } from '../../src/util/f16';
import {
  QK,
  QUANT_BLOCK_BYTES,
  type QuantType,
  blockIntegers,
  dequantizeMatrix,
  emptyQuantized,
  quantizeMatrix,
  quantizeRows,
  quantizedBytes,
} from '../../src/util/ggml';
import { randn } from '../helpers/gpu';

/** A [32, N] matrix whose column c is cols[c] (padded with zeros to 32 values). */
function columns(...cols: number[][]): Float32Array {
  const N = cols.length;
  const w = new Float32Array(QK * N);
  cols.forEach((c, n) => c.forEach((v, j) => (w[j * N + n] = v)));
  return w;
}

function bytesOf(q: { quants: Uint32Array }): Uint8Array {
  return new Uint8Array(q.quants.buffer, q.quants.byteOffset, q.quants.byteLength);
}

describe('GGML block math by hand', () => {
  it('sizes: 34 and 18 bytes per block, quants packed 4 / 8 values per u32', () => {
    expect(QUANT_BLOCK_BYTES).toEqual({ q8_0: 34, q4_0: 18 });
    expect(quantizedBytes(64, 3, 'q8_0')).toBe(6 * 34);
    expect(quantizedBytes(64, 3, 'q4_0')).toBe(6 * 18);
    expect(quantizeMatrix(new Float32Array(64 * 3), 64, 3, 'q8_0').quants.length).toBe((3 * 64) / 4);
    expect(quantizeMatrix(new Float32Array(64 * 3), 64, 3, 'q4_0').quants.length).toBe((3 * 64) / 8);
    expect(quantizeMatrix(new Float32Array(64 * 3), 64, 3, 'q4_0').scales.length).toBe(6);
  });

  it('K not a multiple of 32 is an MQGError naming K', () => {
    expect(() => quantizeMatrix(new Float32Array(40 * 2), 40, 2, 'q8_0')).toThrow(MQGError);
    expect(() => quantizeMatrix(new Float32Array(40 * 2), 40, 2, 'q4_0')).toThrow(/K=40/);
  });

  it('an all-zero block: d = ±0, q8_0 integers 0, q4_0 integers 8, dequantized to 0', () => {
    for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
      const q = quantizeMatrix(new Float32Array(QK * 2), QK, 2, type);
      // q4_0: d = 0 / -8 is -0 in C float too, so GGML stores f16 -0 (0x8000)
      expect(Array.from(q.scales)).toEqual(type === 'q8_0' ? [0, 0] : [0x8000, 0x8000]);
      expect(Array.from(blockIntegers(q))).toEqual(new Array(64).fill(type === 'q8_0' ? 0 : 8));
      expect(Array.from(dequantizeMatrix(q), (v) => v + 0)).toEqual(new Array(64).fill(0));
    }
  });

  it('q8_0: d = amax/127, roundf rounds halves away from zero, int8 bytes', () => {
    // amax 254 -> d = 2, id = 0.5: x·id = 1.5 -> 2, -2.5 -> -3, 0.5 -> 1, -0.5 -> -1, 0.25 -> 0, -254 -> -127
    const col = [3, -5, 1, -1, 0.5, -254, 100, 2.9];
    const q = quantizeMatrix(columns(col), QK, 1, 'q8_0');
    expect(q.scales[0]).toBe(0x4000); // f16(2)
    expect(Array.from(blockIntegers(q)).slice(0, 8)).toEqual([2, -3, 1, -1, 0, -127, 50, 1]);
    expect(bytesOf(q)[5]).toBe(0x81); // -127 as an int8 byte
    expect(Array.from(dequantizeMatrix(q)).slice(0, 8)).toEqual([4, -6, 2, -2, 0, -254, 100, 2]);
  });

  it('q8_0: the scale is f16(d) while the integers use the unrounded d (as GGML)', () => {
    // amax 1: d = f32(1/127) = 0.007874016..., f16(d) = 0.007873535 (bits 0x2008); id = f32(1/d)
    const col = [1, 0.5, -0.3, 0.0039370079];
    const q = quantizeMatrix(columns(col), QK, 1, 'q8_0');
    const d = Math.fround(1 / 127), id = Math.fround(1 / d);
    expect(q.scales[0]).toBe(f32ToF16Bits(d));
    expect(q.scales[0]).toBe(0x2008);
    const expected = col.map((x) => {
      const v = Math.fround(Math.fround(x) * id);
      return Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
    });
    expect(expected).toEqual([127, 64, -38, 1]); // 0.5·127 = 63.5 -> 64; 0.0039370079·127 = 0.50000 -> 1
    expect(Array.from(blockIntegers(q)).slice(0, 4)).toEqual(expected);
    const deq = dequantizeMatrix(q);
    expect(deq[0]).toBe(Math.fround(127 * f16BitsToF32(0x2008)));
  });

  it('q4_0: d = max/-8 with max the first value of largest |x| (sign kept); trunc(x·id + 8.5) clamped at 15', () => {
    // 4 comes before -4: max = 4, d = -0.5, id = -2. x = 4 -> -8 + 8.5 = 0.5 -> 0; x = -4 -> 16.5 -> 16 -> clamp 15;
    // 1 -> 6.5 -> 6; 0.25 -> 8.0 -> 8; -0.25 -> 9.0 -> 9; 0.3 -> 7.9 -> 7; 0 -> 8
    const a = [0, 4, 1, -4, 0.25, -0.25, 0.3];
    // -4 first: max = -4, d = 0.5, id = 2: -4 -> 0; 4 -> 15 (clamped); 1 -> 10; -1 -> 6
    const b = [-4, 4, 1, -1];
    const q = quantizeMatrix(columns(a, b), QK, 2, 'q4_0');
    expect(q.scales[0]).toBe(0xb800); // f16(-0.5)
    expect(q.scales[1]).toBe(0x3800); // f16(0.5)
    const ints = Array.from(blockIntegers(q));
    expect(ints.slice(0, 7)).toEqual([8, 0, 6, 15, 8, 9, 7]);
    expect(ints.slice(32, 36)).toEqual([0, 15, 10, 6]);
    const deq = dequantizeMatrix(q);
    const col0 = Array.from({ length: 7 }, (_, j) => deq[j * 2]! + 0); // + 0: -0 -> 0
    const col1 = Array.from({ length: 4 }, (_, j) => deq[j * 2 + 1]!);
    expect(col0).toEqual([0, 4, 1, -3.5, 0, -0.5, 0.5]);
    expect(col1).toEqual([-4, 3.5, 1, -1]);
  });

  it("q4_0 nibble order is GGML's: byte j holds q_j (low) and q_{j+16} (high)", () => {
    // max = -8 at j = 0: d = 1, id = 1, q_j = trunc(x + 8.5): x_j = j - 8 for j < 16 gives q_j = j;
    // x_{j+16} = 7 - j gives q = 15 - j.
    const col = Array.from({ length: 32 }, (_, j) => (j < 16 ? j - 8 : 7 - (j - 16)));
    const q = quantizeMatrix(columns(col), QK, 1, 'q4_0');
    expect(q.scales[0]).toBe(0x3c00);
    const bytes = Array.from(bytesOf(q));
    expect(bytes).toEqual(Array.from({ length: 16 }, (_, j) => j | ((15 - j) << 4)));
    expect(q.quants[0]).toBe(0xc3d2e1f0);
  });

  it('quantizeRows in slabs of 32 rows gives the same matrix as quantizeMatrix', () => {
    const K = 96, N = 7;
    const w = randn(K * N, 11, 2);
    for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
      const whole = quantizeMatrix(w, K, N, type);
      const q = emptyQuantized(K, N, type);
      for (const k0 of [64, 0, 32]) quantizeRows(q, w.subarray(k0 * N, (k0 + 32) * N), k0, 32);
      expect(q.scales).toEqual(whole.scales);
      expect(q.quants).toEqual(whole.quants);
    }
    expect(() => quantizeRows(emptyQuantized(K, N, 'q8_0'), w, 16, 32)).toThrow(/rows \[16, 48\)/);
  });
});

// ---- a direct port of ggml-quants.c's reference quantizers, one block of 32 floats at a time

function refBlockQ8(x: Float32Array): { d: number; q: number[] } {
  let amax = 0;
  for (const v of x) amax = Math.max(amax, Math.abs(v));
  const d = Math.fround(amax / 127);
  const id = d ? Math.fround(1 / d) : 0;
  const q = Array.from(x, (v) => {
    const x0 = Math.fround(v * id);
    return Math.sign(x0) * Math.floor(Math.abs(x0) + 0.5);
  });
  return { d, q };
}

function refBlockQ4(x: Float32Array): { d: number; q: number[] } {
  let amax = 0, max = 0;
  for (const v of x) {
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = Math.fround(max / -8);
  const id = d ? Math.fround(1 / d) : 0;
  return { d, q: Array.from(x, (v) => Math.min(15, Math.trunc(Math.fround(Math.fround(v * id) + 8.5)))) };
}

const GOLDEN = [resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny/model'), resolve(__dirname, '../fixtures/hf-biomedlm-tiny/model')].find((d) =>
  existsSync(join(d, 'model.safetensors.index.json')),
);
if (!GOLDEN) console.warn('hf-biomedlm-tiny golden model not found: the golden-weights quantization test is skipped');

/** The four block matmul weights of the golden base ([in, out] Conv1D), by canonical name. */
function goldenMatmulWeights(): Map<string, { w: Float32Array; K: number; N: number }> {
  const index = JSON.parse(readFileSync(join(GOLDEN!, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
  const out = new Map<string, { w: Float32Array; K: number; N: number }>();
  for (const shard of new Set(Object.values(index.weight_map))) {
    const parsed = parseSafetensors(new Uint8Array(readFileSync(join(GOLDEN!, shard))), shard);
    for (const [name, t] of parsed.tensors) {
      const canon = canonicalName(name);
      if (!/(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/.test(canon)) continue;
      out.set(canon, { w: toFloat32(t, name), K: t.shape[0]!, N: t.shape[1]! });
    }
  }
  return out;
}

describe.skipIf(!GOLDEN)('GGML quantization of the golden BioMedLM-tiny base weights', () => {
  it.each(['q8_0', 'q4_0'] as QuantType[])('%s: every block equals the per-block port of ggml, and the round trip is within the bound', (type) => {
    const weights = goldenMatmulWeights();
    expect(weights.size).toBe(12); // 3 layers × 4 matmuls
    for (const [name, { w, K, N }] of weights) {
      const q = quantizeMatrix(w, K, N, type);
      const ints = blockIntegers(q);
      const deq = dequantizeMatrix(q);
      const nb = K / QK;
      let bad = '';
      for (let n = 0; n < N && !bad; n++) {
        for (let b = 0; b < nb && !bad; b++) {
          const x = new Float32Array(QK);
          for (let j = 0; j < QK; j++) x[j] = w[(b * QK + j) * N + n]!;
          const ref = type === 'q8_0' ? refBlockQ8(x) : refBlockQ4(x);
          const blk = n * nb + b;
          const got = Array.from(ints.subarray(blk * QK, (blk + 1) * QK));
          if (q.scales[blk] !== f32ToF16Bits(ref.d) || got.join() !== ref.q.join()) {
            bad = `${name} column ${n} block ${b}: scale ${q.scales[blk]} vs ${f32ToF16Bits(ref.d)}, q ${got} vs ${ref.q}`;
          }
          // q8_0: |x - deq| ≤ d/2 plus the f16 rounding of d times |q| ≤ 127; q4_0: ≤ |d| (the clamp
          // at 15 loses up to a whole step for x = -max) plus 8·|d - f16(d)|.
          const dh = f16BitsToF32(q.scales[blk]!);
          const bound = type === 'q8_0' ? ref.d / 2 + 127 * Math.abs(ref.d - dh) : Math.abs(ref.d) + 8 * Math.abs(ref.d - dh);
          for (let j = 0; j < QK && !bad; j++) {
            const i = (b * QK + j) * N + n;
            if (Math.abs(w[i]! - deq[i]!) > bound * (1 + 1e-6)) bad = `${name} [${b * QK + j}, ${n}]: |${w[i]} - ${deq[i]}| > ${bound}`;
          }
        }
      }
      expect(bad).toBe('');
    }
  });
});
