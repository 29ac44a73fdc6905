/**
 * Element types of stored tensors and their conversion to and from f32. Browser-safe.
 * Parameters may be F32, F16 or BF16 (widened exactly); the other types appear only in buffers
 * we skip (e.g. a U8 causal mask), so reading one as a parameter is an error naming it.
 */

import { CheckpointError } from '../../util/errors';
import { f16ToFloat32Array, float32ToF16Array } from '../../util/f16';

export type FloatDType = 'F32' | 'F16' | 'BF16';
export const FLOAT_DTYPES: readonly FloatDType[] = ['F32', 'F16', 'BF16'];

/** Bytes per element of every dtype a safetensors header or a torch storage may name. */
export const STORED_DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isFloatDType(d: string): d is FloatDType {
  return (FLOAT_DTYPES as readonly string[]).includes(d);
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function aligned(data: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(data.byteLength);
  new Uint8Array(buf).set(data);
  return buf;
}

function u16LE(data: Uint8Array): Uint16Array {
  if (IS_LITTLE_ENDIAN) return new Uint16Array(aligned(data));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

/**
 * Little-endian `dtype` bytes -> a new Float32Array. `what` names the tensor in the error.
 * `owned`: the caller hands `data` over (a fresh read nobody else holds), so F32 bytes at a
 * 4-byte-aligned offset are viewed, not copied (one pass less over every weight while loading).
 */
export function decodeFloat32(data: Uint8Array, dtype: string, what: string, owned = false): Float32Array {
  if (dtype === 'F32') {
    if (IS_LITTLE_ENDIAN && owned && data.byteOffset % 4 === 0) return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    if (IS_LITTLE_ENDIAN) return new Float32Array(aligned(data));
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const out = new Float32Array(data.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  if (dtype === 'F16') return f16ToFloat32Array(u16LE(data));
  if (dtype === 'BF16') {
    const u16 = u16LE(data);
    const out = new Float32Array(u16.length);
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16; // bf16 is the top half of an f32
    return out;
  }
  throw new CheckpointError(`${what} has dtype ${dtype}; parameters must be one of ${FLOAT_DTYPES.join(', ')}`);
}

/** Round-to-nearest-even f32 -> bf16 bits; NaN stays a (quiet) NaN. */
export function float32ToBF16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) out[i] = (b >>> 16) | 0x40;
    else out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

/** f32 values -> little-endian `dtype` bytes (a new buffer). F16 refuses finite values it would turn into Infinity. */
export function encodeFloat32(values: Float32Array, dtype: FloatDType, what = 'tensor'): Uint8Array {
  let out: Uint8Array;
  if (dtype === 'F32') {
    out = new Uint8Array(values.byteLength);
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    if (dtype === 'F16') checkF16Range(values, what);
    const u16 = dtype === 'F16' ? float32ToF16Array(values) : float32ToBF16Array(values);
    out = new Uint8Array(u16.buffer, u16.byteOffset, u16.byteLength);
  }
  if (!IS_LITTLE_ENDIAN) swapBytes(out, STORED_DTYPE_BYTES[dtype]!);
  return out;
}

function checkF16Range(data: Float32Array, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // |v| >= 65520 rounds (ties-to-even) past 65504 to Infinity.
    if (Number.isFinite(v) && Math.abs(v) >= 65520) {
      throw new CheckpointError(`${what} element ${i} = ${v} is outside the F16 range (max 65504); save as F32 or BF16`);
    }
  }
}

function swapBytes(b: Uint8Array, width: number): void {
  for (let i = 0; i < b.length; i += width) {
    for (let j = 0; j < width / 2; j++) {
      const t = b[i + j]!;
      b[i + j] = b[i + width - 1 - j]!;
      b[i + width - 1 - j] = t;
    }
  }
}
