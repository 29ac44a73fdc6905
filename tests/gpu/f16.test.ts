// f16 <-> f32 conversion over all 65,536 bit patterns, against independent references:
// the GPU's own f16 decoding (bitcast in WGSL) and a brute-force nearest-value search for encoding.
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f16ToFloat32Array, f32ToF16Bits, float32ToF16Array } from '../../src/util/f16';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const isNaNBits = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('f16 conversion', () => {
  it.skipIf(!PRECISIONS.includes('f16'))('decodes all 65,536 patterns exactly as the GPU does', async () => {
    const gpu = await getGPU('f16');
    // Each u32 holds two f16 patterns; the kernel widens both to f32 on the GPU.
    const words = new Uint32Array(32768);
    for (let i = 0; i < 32768; i++) words[i] = (2 * i) | ((2 * i + 1) << 16);
    const inp = gpu.tensor([32768], 'u32', 'f16_patterns', words);
    const out = gpu.tensor([65536], 'u32', 'f32_bits');
    gpu.run(
      {
        name: 'f16_decode_reference',
        code: `enable f16;
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= arrayLength(&inp)) { return; }
  let h = bitcast<vec2<f16>>(inp[i]);
  out[2u * i] = bitcast<u32>(f32(h.x));
  out[2u * i + 1u] = bitcast<u32>(f32(h.y));
}`,
      },
      { out, inp },
      512,
    );
    const gpuBits = (await gpu.download(out)) as Uint32Array;
    const gpuF32 = new Float32Array(gpuBits.buffer, gpuBits.byteOffset, 65536);
    const mine = f16ToFloat32Array(Uint16Array.from({ length: 65536 }, (_, i) => i));
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) {
      const a = mine[h]!, b = gpuF32[h]!;
      if (isNaNBits(h) ? !Number.isNaN(a) : !Object.is(a, b)) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
  });

  it('encodes every f16 value back to its own bits, and rounds to nearest even', () => {
    // Sorted list of all finite non-negative f16 values: the reference nearest-value search.
    const finite: number[] = [];
    for (let h = 0; h < 0x7c00; h++) finite.push(f16BitsToF32(h));
    const nearest = (x: number): number => {
      const ax = Math.abs(x);
      if (ax >= 65520) return x < 0 ? 0xfc00 : 0x7c00; // 65520 = 65504 + half a step: rounds to inf
      let lo = 0, hi = finite.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (finite[mid]! <= ax) lo = mid; else hi = mid;
      }
      const dl = ax - finite[lo]!, dh = finite[hi]! - ax;
      const pick = dl < dh ? lo : dh < dl ? hi : (lo % 2 === 0 ? lo : hi);
      return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | pick;
    };
    let bad = 0;
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let h = 0; h < 65536; h++) {
      if (isNaNBits(h)) {
        if (!isNaNBits(f32ToF16Bits(f16BitsToF32(h)))) bad++;
        continue;
      }
      const x = f16BitsToF32(h);
      if (f32ToF16Bits(x) !== h) bad++;
      if ((h & 0x7fff) >= 0x7bff) continue; // the step above 65504 is inf: checked at 65519/65520 below
      // The midpoint to the next value up, and the f32 values just either side of it.
      const next = f16BitsToF32((h & 0x7fff) + 1) * (h & 0x8000 ? -1 : 1);
      f[0] = (x + next) / 2; // exact in f32
      const mid = f[0];
      const bits = u[0]!;
      for (const probe of [mid, (u[0] = bits + 1, f[0]), (u[0] = bits - 1, f[0])]) {
        if (f32ToF16Bits(probe) !== nearest(probe)) bad++;
      }
    }
    expect(bad).toBe(0);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal: even is 0
    expect(f32ToF16Bits(2 ** -25 * 1.5)).toBe(1);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(isNaNBits(f32ToF16Bits(NaN))).toBe(true);
    expect(Array.from(float32ToF16Array([1, -2, 0.5]))).toEqual([0x3c00, 0xc000, 0x3800]);
  });
});
