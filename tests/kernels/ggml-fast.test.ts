// quantizeRows (column-at-a-time, branch-free rounding, whole-byte writes) against the previous
// row-order implementation kept here as the reference, bit for bit: random weights, exact halves,
// ties of |max|, NaN, ±Infinity, subnormal maxima (whose inverse scale overflows to Infinity), and
// an output buffer holding old bytes (the loader reuses one from weight to weight).
import { describe, expect, it } from 'vitest';
import { f32ToF16Bits } from '../../src/util/f16';
import { QK, emptyQuantized, quantizeRows, type QuantType, type QuantizedMatrix } from '../../src/util/ggml';

/** The row-order quantizeRows this module had before (commit 584aa01), unchanged. */
function referenceRows(q: QuantizedMatrix, w: Float32Array, k0: number, rows: number): void {
  const { K, N, type } = q;
  const nb = K / QK;
  const bytes = new Uint8Array(q.quants.buffer, q.quants.byteOffset, q.quants.byteLength);
  const amax = new Float32Array(N), vmax = new Float32Array(N), id = new Float32Array(N);
  for (let r0 = 0; r0 < rows; r0 += QK) {
    const b = (k0 + r0) / QK;
    amax.fill(0);
    vmax.fill(0);
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
    for (let j = 0; j < QK; j++) {
      const row = (r0 + j) * N;
      for (let n = 0; n < N; n++) {
        const x = Math.fround(w[row + n]! * id[n]!);
        const blk = n * nb + b;
        if (type === 'q8_0') {
          const r = x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
          bytes[blk * 32 + j] = r & 0xff;
        } else {
          const v = Math.min(15, Math.trunc(Math.fround(x + 8.5)));
          const at = blk * 16 + (j & 15);
          bytes[at] = j < 16 ? (bytes[at]! & 0xf0) | v : (bytes[at]! & 0x0f) | (v << 4);
        }
      }
    }
  }
}

/** [K, N] weights: random normals scaled per column, with the awkward values planted in some blocks. */
function awkward(K: number, N: number, seed: number): Float32Array {
  const w = new Float32Array(K * N);
  let s = seed;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < w.length; i++) w[i] = (rnd() - 0.5) * 0.1 * (1 + (i % N) / 7);
  const at = (k: number, n: number) => k * N + n;
  // column 0, block 0: exact halves of q8_0 (amax 127 gives id 1) and q4_0 (max -8 gives id 1)
  for (let j = 0; j < QK; j++) w[at(j, 0)] = j === 0 ? 127 : (j - 16) + 0.5;
  for (let j = 0; j < QK; j++) w[at(j, 1)] = j === 0 ? -8 : (j % 16) - 8 + 0.5;
  // column 2: ties of |max| with both signs; column 3: NaN, ±Infinity; column 4: a subnormal max
  w[at(3, 2)] = 0.5; w[at(7, 2)] = -0.5;
  w[at(2, 3)] = NaN; w[at(5, 3)] = Infinity; w[at(QK + 1, 3)] = -Infinity; w[at(QK + 4, 3)] = NaN;
  for (let j = 0; j < QK; j++) w[at(j, 4)] = j % 3 === 0 ? 1e-40 : j % 3 === 1 ? -1e-41 : 0;
  for (let j = 0; j < QK; j++) w[at(QK + j, 4)] = j === 9 ? -3e-39 : 2e-39;
  // column 5, second block: all zero
  for (let j = 0; j < QK; j++) w[at(QK + j, 5)] = 0;
  return w;
}

describe.each(['q8_0', 'q4_0'] as QuantType[])('quantizeRows %s equals the row-order reference', (type) => {
  it.each([[64, 6], [96, 37], [256, 130]])('K=%i N=%i, whole and in row slabs, over old bytes', (K, N) => {
    const w = awkward(K, N, K * 1000 + N);
    const want = emptyQuantized(K, N, type);
    referenceRows(want, w, 0, K);
    const got = emptyQuantized(K, N, type);
    got.quants.fill(0xa5a5a5a5); // old contents must not leak into the result
    got.scales.fill(0x1234);
    quantizeRows(got, w, 0, K);
    expect(Array.from(got.scales)).toEqual(Array.from(want.scales));
    expect(Array.from(got.quants)).toEqual(Array.from(want.quants));
    const slabs = emptyQuantized(K, N, type);
    for (let k0 = 0; k0 < K; k0 += QK) quantizeRows(slabs, w.subarray(k0 * N, (k0 + QK) * N), k0, QK);
    expect(Array.from(slabs.quants)).toEqual(Array.from(want.quants));
    expect(Array.from(slabs.scales)).toEqual(Array.from(want.scales));
  });
});
