/**
 * safetensors reader / writer operating on in-memory bytes. Browser-safe: no Node built-ins.
 *
 * Format: 8-byte little-endian u64 header length N, N bytes of JSON header
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}`),
 * then the tensor data; offsets are relative to the start of the data section.
 */

import { CheckpointError, numel } from './config';
import { f16ToFloat32Array, float32ToF16Array } from '../util/f16';

export { CheckpointError };

export type SafetensorsDType = 'F32' | 'F16' | 'BF16';
export const SUPPORTED_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16'];

export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** View into the parsed file's bytes (not a copy; may be unaligned). */
  data: Uint8Array;
}

export interface ParsedSafetensors {
  metadata: Record<string, string>;
  /** In header order. */
  tensors: Map<string, SafetensorsTensor>;
  /** Name used in error messages. */
  fileName: string;
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Raw little-endian element bytes; a typed array is written as its underlying bytes. */
  data: Uint8Array | Uint16Array | Float32Array;
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isSupportedDtype(d: unknown): d is SafetensorsDType {
  return typeof d === 'string' && (SUPPORTED_DTYPES as readonly string[]).includes(d);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Where tensor data come from when the file is too large to hold in one buffer: `bytes` is then
 * only the 8-byte length and the header, and `read` fetches each tensor's bytes from the file.
 */
export interface SafetensorsSource {
  fileSize: number;
  read(offset: number, length: number): Uint8Array;
}

/** Parse a safetensors file. Tensor data are views into `bytes` (or read through `source`). */
export function parseSafetensors(bytes: Uint8Array, fileName = '<safetensors buffer>', source?: SafetensorsSource): ParsedSafetensors {
  const where = `safetensors file '${fileName}'`;
  const fileSize = source?.fileSize ?? bytes.byteLength;
  if (fileSize < 8 || bytes.byteLength < 8) {
    throw new CheckpointError(
      `${where} is truncated: ${bytes.byteLength} bytes, too short for the 8-byte header length`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLenBig = dv.getBigUint64(0, true);
  if (headerLenBig > BigInt(fileSize - 8) || headerLenBig > BigInt(bytes.byteLength - 8)) {
    throw new CheckpointError(
      `${where} is truncated: header length ${headerLenBig} bytes exceeds the ${fileSize - 8} bytes after the length field`,
    );
  }
  const headerLen = Number(headerLenBig);
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(
      `${where} has an invalid JSON header (${headerLen} bytes): ${(e as Error).message}`,
    );
  }
  if (!isPlainObject(header)) {
    throw new CheckpointError(`${where} has an invalid header: expected a JSON object`);
  }

  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, SafetensorsTensor>();

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) {
        throw new CheckpointError(`${where} has an invalid __metadata__: expected an object of strings`);
      }
      for (const [k, v] of Object.entries(entry)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
      continue;
    }
    const t = `tensor '${name}' in ${where}`;
    if (!isPlainObject(entry)) throw new CheckpointError(`${t}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isSupportedDtype(dtype)) {
      throw new CheckpointError(
        `${t} has unsupported dtype '${String(dtype)}' (supported: ${SUPPORTED_DTYPES.join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new CheckpointError(`${t} has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      throw new CheckpointError(`${t} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    if (end > dataLen) {
      throw new CheckpointError(
        `${t} is truncated: its data_offsets [${begin}, ${end}] extend beyond the ${dataLen} data bytes in the file`,
      );
    }
    const expectBytes = numel(dims) * SAFETENSORS_DTYPE_BYTES[dtype];
    if (end - begin !== expectBytes) {
      throw new CheckpointError(
        `${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${dims.join(', ')}] x ${dtype} needs ${expectBytes}`,
      );
    }
    tensors.set(name, {
      dtype,
      shape: dims.slice(),
      data: source ? source.read(dataStart + begin, end - begin) : bytes.subarray(dataStart + begin, dataStart + end),
    });
  }
  return { metadata, tensors, fileName };
}

/** Copy a byte view into a fresh, aligned ArrayBuffer. */
function alignedCopy(data: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(data.byteLength);
  new Uint8Array(buf).set(data);
  return buf;
}

/** Convert a tensor's elements to a new Float32Array (F16 and BF16 widened exactly). */
export function toFloat32(tensor: SafetensorsTensor): Float32Array {
  const { dtype, data } = tensor;
  if (dtype === 'F32') {
    if (IS_LITTLE_ENDIAN) return new Float32Array(alignedCopy(data));
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const out = new Float32Array(data.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = dv.getFloat32(i * 4, true);
    return out;
  }
  const u16 = readU16LE(data);
  if (dtype === 'F16') return f16ToFloat32Array(u16);
  // BF16: the upper 16 bits of an f32.
  const out = new Float32Array(u16.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < u16.length; i++) bits[i] = u16[i]! << 16;
  return out;
}

function readU16LE(data: Uint8Array): Uint16Array {
  if (IS_LITTLE_ENDIAN) return new Uint16Array(alignedCopy(data));
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint16Array(data.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

/** Round-to-nearest-even f32 -> bf16 bits; NaN stays a (quiet) NaN. */
export function float32ToBF16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i]!;
    if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) {
      out[i] = (b >>> 16) | 0x40;
    } else {
      out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
    }
  }
  return out;
}

/** Encode f32 values as `dtype` little-endian bytes (a new buffer). */
export function encodeFloat32(values: Float32Array, dtype: SafetensorsDType): Uint8Array {
  let out: Uint8Array;
  if (dtype === 'F32') {
    out = new Uint8Array(values.byteLength);
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  } else {
    const u16 = dtype === 'F16' ? float32ToF16Array(values) : float32ToBF16Array(values);
    out = new Uint8Array(u16.buffer, u16.byteOffset, u16.byteLength);
  }
  if (!IS_LITTLE_ENDIAN) swapBytes(out, SAFETENSORS_DTYPE_BYTES[dtype]);
  return out;
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

function asBytes(d: Uint8Array | Uint16Array | Float32Array): Uint8Array {
  return d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Serialize tensors (in the given order) with string metadata into a safetensors file.
 * Typed-array data are written as their in-memory bytes (little-endian platforms).
 */
export function serializeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new CheckpointError(`safetensors metadata value for '${k}' must be a string, got ${typeof v}`);
      }
    }
    header['__metadata__'] = metadata;
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new CheckpointError(`tensor name '__metadata__' is reserved`);
    if (seen.has(t.name)) throw new CheckpointError(`duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    if (!isSupportedDtype(t.dtype)) {
      throw new CheckpointError(
        `tensor '${t.name}' has unsupported dtype '${String(t.dtype)}' (supported: ${SUPPORTED_DTYPES.join(', ')})`,
      );
    }
    const n = asBytes(t.data).byteLength;
    const expect = numel(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (n !== expect) {
      throw new CheckpointError(
        `tensor '${t.name}': ${n} data bytes but shape [${t.shape.join(', ')}] x ${t.dtype} needs ${expect}`,
      );
    }
    header[t.name] = { dtype: t.dtype, shape: t.shape.slice(), data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  let headerBytes = new TextEncoder().encode(json);
  const pad = (8 - (headerBytes.byteLength % 8)) % 8;
  if (pad > 0) {
    json += ' '.repeat(pad);
    headerBytes = new TextEncoder().encode(json);
  }
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const t of tensors) {
    const b = asBytes(t.data);
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}
