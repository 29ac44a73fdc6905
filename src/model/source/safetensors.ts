/**
 * safetensors reading: header parsing (one validation for in-memory bytes and for files read
 * through a ByteSource), tensors read when asked. The writer is safetensors-write.ts.
 * Browser-safe: no Node built-ins.
 *
 * Format: 8-byte little-endian u64 header length N, N bytes of JSON header
 * (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}`),
 * then the tensor data; offsets are relative to the start of the data section.
 */

import { numel } from '../config';
import { CheckpointError } from '../../util/errors';
import type { ByteSource } from './bytes';
import { STORED_DTYPE_BYTES, FLOAT_DTYPES, decodeFloat32, type FloatDType } from './dtype';
import type { TensorEntry, TensorFile } from './tensor-file';

export { CheckpointError };

export type SafetensorsDType = FloatDType;
export const SUPPORTED_DTYPES = FLOAT_DTYPES;
export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };

export interface SafetensorsTensor {
  dtype: string;
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

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

interface Header {
  metadata: Record<string, string>;
  entries: HeaderEntry[];
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The header length from the first 8 bytes, checked against the file size. */
function headerLength(first8: Uint8Array, fileSize: number, where: string): number {
  if (fileSize < 8 || first8.byteLength < 8) {
    throw new CheckpointError(`${where} is truncated: ${fileSize} bytes, too short for the 8-byte header length`);
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new CheckpointError(`${where} is truncated: header length ${n} bytes exceeds the ${fileSize - 8} bytes after the length field`);
  }
  return Number(n);
}

/** Validate the JSON header: dtypes, shapes, offsets within the file and not overlapping. */
function parseSafetensorsHeader(json: Uint8Array, fileSize: number, where: string): Header {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new CheckpointError(`${where} has an invalid JSON header (${json.byteLength} bytes): ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) throw new CheckpointError(`${where} has an invalid header: expected a JSON object`);
  const dataStart = 8 + json.byteLength;
  const dataLen = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw new CheckpointError(`${where} has an invalid __metadata__: expected an object of strings`);
      for (const [k, v] of Object.entries(entry)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
      continue;
    }
    const t = `tensor '${name}' in ${where}`;
    if (!isPlainObject(entry)) throw new CheckpointError(`${t}: header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string' || STORED_DTYPE_BYTES[dtype] === undefined) {
      throw new CheckpointError(`${t} has unsupported dtype '${String(dtype)}' (supported: ${SUPPORTED_DTYPES.join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw new CheckpointError(`${t} has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) || (offsets[0] as number) > (offsets[1] as number)
    ) {
      throw new CheckpointError(`${t} has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    if (end > dataLen) {
      throw new CheckpointError(`${t} is truncated: its data_offsets [${begin}, ${end}] extend beyond the ${dataLen} data bytes in the file`);
    }
    const expectBytes = numel(dims) * STORED_DTYPE_BYTES[dtype]!;
    if (end - begin !== expectBytes) {
      throw new CheckpointError(`${t}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${dims.join(', ')}] x ${dtype} needs ${expectBytes}`);
    }
    entries.push({ name, dtype, shape: dims.slice(), begin, end });
  }
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [a, b] = [sorted[i - 1]!, sorted[i]!];
    if (b.begin < a.end) {
      throw new CheckpointError(`${where}: tensors '${a.name}' [${a.begin}, ${a.end}] and '${b.name}' [${b.begin}, ${b.end}] overlap`);
    }
  }
  return { metadata, entries, dataStart };
}

/** Parse a whole safetensors file held in memory. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, fileName = '<safetensors buffer>'): ParsedSafetensors {
  const where = `safetensors file '${fileName}'`;
  const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, where);
  const { metadata, entries, dataStart } = parseSafetensorsHeader(bytes.subarray(8, 8 + n), bytes.byteLength, where);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries) {
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
  }
  return { metadata, tensors, fileName };
}

/** Convert a parsed tensor's elements to a new Float32Array (F16 and BF16 widened exactly). */
export function toFloat32(tensor: SafetensorsTensor, name = 'tensor'): Float32Array {
  return decodeFloat32(tensor.data, tensor.dtype, name);
}

/** The largest tensor (bytes) read ahead while the one before it is converted and uploaded. */
export const READ_AHEAD_MAX_BYTES = 128 << 20;

/**
 * Open a safetensors file through a ByteSource: reads the header only; each tensor is read when
 * asked. Loading asks in file order, so when a file's tensor is read the next one's bytes (up to
 * READ_AHEAD_MAX_BYTES) are requested at once: the disk read (a worker thread) overlaps the
 * conversion and upload of this one, and at most one tensor's bytes wait ahead.
 */
export async function openSafetensors(src: ByteSource): Promise<TensorFile> {
  const where = `safetensors file '${src.name}'`;
  const n = headerLength(await src.read(0, Math.min(8, src.size)), src.size, where);
  const { metadata, entries, dataStart } = parseSafetensorsHeader(await src.read(8, n), src.size, where);
  const order = entries.map((_, i) => i).sort((a, b) => entries[a]!.begin - entries[b]!.begin);
  const nextOf = new Map(order.map((i, k) => [i, order[k + 1]]));
  const rawRead = (i: number) => src.read(dataStart + entries[i]!.begin, entries[i]!.end - entries[i]!.begin);
  let ahead: { index: number; bytes: Promise<Uint8Array> } | undefined;
  const readBytes = (i: number): Promise<Uint8Array> => {
    const bytes = ahead?.index === i ? ahead.bytes : rawRead(i);
    ahead = undefined;
    const j = nextOf.get(i);
    if (src.fresh && j !== undefined && entries[j]!.end - entries[j]!.begin <= READ_AHEAD_MAX_BYTES) {
      const next = rawRead(j);
      next.catch(() => undefined); // a failure surfaces when (if) that tensor is asked for
      ahead = { index: j, bytes: next };
    }
    return bytes;
  };
  const tensors: TensorEntry[] = entries.map((e, i) => ({
    name: e.name,
    file: src.name,
    dtype: e.dtype,
    shape: e.shape,
    storageKey: `${src.name}@${e.begin}`,
    // a file's or blob's reads are fresh bytes: F32 decoded in place where aligned
    read: async () => decodeFloat32(await readBytes(i), e.dtype, `tensor '${e.name}' in ${where}`, src.fresh === true),
  }));
  return { name: src.name, format: 'safetensors', tensors, metadata, close: () => src.close() };
}
