/**
 * safetensors writing, browser-safe: the header for tensors written back to back
 * (checkpoint-write.node.ts streams the data after it, one tensor at a time), a whole file in
 * memory, and a GPT-2 model's weights in memory with HF names. The format is described in
 * safetensors.ts, the reader.
 */

import { numel, type GPT2Config } from '../config';
import { CheckpointError } from '../../util/errors';
import { configToMetadata } from './config';
import { STORED_DTYPE_BYTES, encodeFloat32, type FloatDType } from './dtype';
import { canonicalParamList, hfName } from './names';

export interface TensorToWrite {
  name: string;
  /** Any safetensors dtype (parameters are F32, F16 or BF16). */
  dtype: string;
  shape: number[];
  /** Raw little-endian element bytes; a typed array is written as its underlying bytes. */
  data: Uint8Array | Uint16Array | Float32Array;
}

/** A tensor to be written: its bytes are produced only when the writer reaches it. */
export interface TensorPlan {
  name: string;
  dtype: string;
  shape: number[];
}

/**
 * The header bytes (8-byte length + JSON, padded with spaces to a multiple of 8 so the data
 * are aligned) for tensors written back to back in the given order.
 */
export function safetensorsHeader(tensors: readonly TensorPlan[], metadata: Record<string, string> = {}): { header: Uint8Array; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(`safetensors metadata value for '${k}' must be a string, got ${typeof v}`);
    }
    json['__metadata__'] = metadata;
  }
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__') throw new CheckpointError(`tensor name '__metadata__' is reserved`);
    if (seen.has(t.name)) throw new CheckpointError(`duplicate tensor name '${t.name}'`);
    seen.add(t.name);
    const width = STORED_DTYPE_BYTES[t.dtype];
    if (width === undefined) {
      throw new CheckpointError(`tensor '${t.name}' has unsupported dtype '${String(t.dtype)}' (supported: ${Object.keys(STORED_DTYPE_BYTES).join(', ')})`);
    }
    const n = numel(t.shape) * width;
    json[t.name] = { dtype: t.dtype, shape: t.shape.slice(), data_offsets: [offset, offset + n] };
    offset += n;
  }
  let text = JSON.stringify(json);
  text += ' '.repeat((8 - (new TextEncoder().encode(text).byteLength % 8)) % 8);
  const body = new TextEncoder().encode(text);
  const header = new Uint8Array(8 + body.byteLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.byteLength), true);
  header.set(body, 8);
  return { header, dataBytes: offset };
}

function asBytes(d: Uint8Array | Uint16Array | Float32Array): Uint8Array {
  return d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** Serialize tensors (in the given order) with string metadata into one in-memory safetensors file. */
export function serializeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  for (const t of tensors) {
    const n = asBytes(t.data).byteLength;
    const expect = numel(t.shape) * (STORED_DTYPE_BYTES[t.dtype] ?? NaN);
    if (STORED_DTYPE_BYTES[t.dtype] !== undefined && n !== expect) {
      throw new CheckpointError(`tensor '${t.name}': ${n} data bytes but shape [${t.shape.join(', ')}] x ${t.dtype} needs ${expect}`);
    }
  }
  const { header, dataBytes } = safetensorsHeader(tensors, metadata);
  const out = new Uint8Array(header.byteLength + dataBytes);
  out.set(header);
  let pos = header.byteLength;
  for (const t of tensors) {
    const b = asBytes(t.data);
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}

/**
 * Serialize canonical params in memory as an HF GPT-2 safetensors file: HF names and layout,
 * config in `__metadata__`, then `extraMetadata` (which cannot override the config keys).
 * (checkpoint-write.node.ts streams the same layout to disk, for models of any size.)
 */
export function saveGPT2Weights(
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array>,
  dtype: FloatDType = 'F32',
  extraMetadata: Record<string, string> = {},
): Uint8Array {
  const tensors: TensorToWrite[] = canonicalParamList(config, params).map(({ name, shape, data }) => ({
    name: hfName(name),
    dtype,
    shape,
    data: encodeFloat32(data, dtype, `parameter '${name}'`),
  }));
  const metadata = configToMetadata(config);
  for (const [k, v] of Object.entries(extraMetadata)) if (!(k in metadata)) metadata[k] = v;
  return serializeSafetensors(tensors, metadata);
}
