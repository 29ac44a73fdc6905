// The Float32Array fast path of float32ToF16Array (what an f16 model load spends its time in)
// rounds exactly as the scalar f32ToF16Bits, on every exponent and on random bit patterns.
import { describe, expect, it } from 'vitest';
import { f32ToF16Bits, float32ToF16Array } from '../../src/util/f16';

describe('float32ToF16Array fast path', () => {
  it('matches f32ToF16Bits bit for bit', () => {
    const n = 1 << 20;
    const bits = new Uint32Array(n + 512 * 8);
    let s = 12345;
    for (let i = 0; i < n; i++) bits[i] = s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // every sign and exponent with rounding-sensitive mantissas (ties, just above/below)
    let k = n;
    for (let e = 0; e < 256; e++) for (const m of [0, 1, 0x1000, 0x1001, 0xfff, 0x3000, 0x7fffff]) if (k < bits.length) bits[k++] = ((e << 23) | m) >>> 0, bits[k++] = (0x80000000 | (e << 23) | m) >>> 0;
    const f = new Float32Array(bits.buffer);
    const fast = float32ToF16Array(f);
    // NaN payloads differ (a JS number canonicalises them): both sides must then be an f16 NaN.
    const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const bad: string[] = [];
    for (let i = 0; i < f.length; i++) {
      const want = f32ToF16Bits(f[i]!);
      if (fast[i] !== want && !(Number.isNaN(f[i]) && isNaN16(fast[i]!) && isNaN16(want))) bad.push(`${bits[i]!.toString(16)}: ${fast[i]!.toString(16)} != ${want.toString(16)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('keeps a NaN\'s sign and top payload bits (quiet), and writes into a given array', () => {
    const bits = new Uint32Array([0x7fc00001, 0xffa00000, 0x7f802000, 0x3f800000, 0xc7800000, 0x33000001]);
    const out = new Uint16Array(bits.length + 2).fill(0xbeef);
    const got = float32ToF16Array(new Float32Array(bits.buffer), out);
    expect(got).toBe(out);
    // NaNs: sign | 0x7c00 | 0x200 | mant >>> 13; then 1, -65536 (-Infinity), 2^-25 + ulp (rounds up to the smallest subnormal)
    expect(Array.from(out)).toEqual([0x7e00, 0xfe00 | 0x100, 0x7e01, 0x3c00, 0xfc00, 0x0001, 0xbeef, 0xbeef]);
  });
});
