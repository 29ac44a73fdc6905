// IEEE 754 binary16 <-> binary32 conversion that works without Float16Array (Node 20).
// f32 -> f16 rounds to nearest, ties to even; subnormals, infinities and NaN are handled.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Bits of the f16 nearest to x (round to nearest even). NaN keeps its sign and becomes a quiet NaN. */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToF16Bits(u32[0]!);
}

/** f32ToF16Bits on an f32's bit pattern (a NaN's payload kept, as no float round trip could). */
function f32BitsToF16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  // Unbiased exponent e: f16 normals have e in [-14, 15].
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal: keep 10 mantissa bits, round the 13 dropped bits to nearest even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h += 1; // may carry into the exponent: correct, even to inf
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-25) rounds to zero
  // Subnormal: value = m * 2^-24 with m = (1.mant) * 2^(e+24), rounded to nearest even.
  const full = mant | 0x800000; // 24-bit significand, value = full * 2^(e-23)
  const shift = -e - 1; // bits to drop so the result is in units of 2^-24: (e-23) - (-24) = e+1 -> drop -(e+1)
  let m = full >>> shift;
  const rest = full & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (m & 1) === 1)) m += 1;
  return sign | m;
}

/** The f32 value of an f16 bit pattern (exact: every f16 is representable in f32). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// Lookup table for the f16 -> f32 direction: 65,536 entries, 256 KiB, built on first use.
let table: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = f16BitsToF32(h);
  }
  return table;
}

/**
 * f16 bits of every element, rounded to nearest even as f32ToF16Bits. `out` (at least src.length
 * long) receives them instead of a new array: loading reuses one small buffer, as a fresh multi-MB
 * array costs a page fault per 4 KiB on first touch, more than the conversion itself.
 */
export function float32ToF16Array(src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (src instanceof Float32Array) {
    float32BitsToF16(new Int32Array(src.buffer, src.byteOffset, src.length), out);
    return out;
  }
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]!);
  return out;
}

/**
 * The same rounding as f32ToF16Bits on the bits directly (Int32Array: every load stays a small
 * integer). The f16 normal range [2^-14, 65536) takes one branch: rebias the exponent, add 0xfff
 * plus the kept mantissa's lowest bit (ties to even; a carry into the exponent is correct, even to
 * Infinity), shift; everything else (subnormals, overflow, Infinity, NaN) goes through f32ToF16Bits.
 */
function float32BitsToF16(bits: Int32Array, out: Uint16Array): void {
  const n = bits.length;
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const a = b & 0x7fffffff;
    if (a >= 0x38800000 && a < 0x47800000) {
      out[i] = ((b >>> 16) & 0x8000) | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
    } else out[i] = f32BitsToF16Bits(b);
  }
}

export function f16ToFloat32Array(src: Uint16Array): Float32Array {
  const t = f16Table();
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
  return out;
}

/** Round every element to the nearest f16 value, in place (emulates f16 storage). */
export function roundToF16(a: Float32Array): Float32Array {
  const t = f16Table();
  for (let i = 0; i < a.length; i++) a[i] = t[f32ToF16Bits(a[i]!)]!;
  return a;
}
