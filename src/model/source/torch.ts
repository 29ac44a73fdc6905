/**
 * PyTorch `torch.save` files (pytorch_model.bin): a zip archive with `<prefix>/data.pkl` (the
 * state dict, pickled) and one stored member `<prefix>/data/<key>` per storage. Only the zip
 * directory and the pickle are read up front; each tensor's bytes are read when asked, as a
 * contiguous run of its storage (or gathered by stride). Tensors sharing a storage (a tied
 * lm_head) share a storage key. Browser-safe.
 */

import { numel } from '../config';
import { CheckpointError } from '../../util/errors';
import type { ByteSource } from './bytes';
import { STORED_DTYPE_BYTES, decodeFloat32 } from './dtype';
import { PickleDict, unpickle, type TorchTensor } from './pickle';
import type { TensorEntry, TensorFile } from './tensor-file';
import { memberDataOffset, readZipDirectory, type ZipMember } from './zip';

/** The first bytes of a pre-1.6 torch.save file: a pickled magic number, not a zip. */
export function isLegacyTorch(head: Uint8Array): boolean {
  return head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a; // PROTO 2, LONG1 of 10 bytes
}

export async function openTorch(src: ByteSource): Promise<TensorFile> {
  const where = `PyTorch file '${src.name}'`;
  const members = await readZipDirectory(src);
  const pkl = members.find((m) => m.name === 'data.pkl' || m.name.endsWith('/data.pkl'));
  if (!pkl) throw new CheckpointError(`${where} has no data.pkl: it is a zip archive but not one written by torch.save`);
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  const byName = new Map(members.map((m) => [m.name, m]));
  const readMember = async (m: ZipMember): Promise<Uint8Array> => {
    if (m.method !== 0) throw new CheckpointError(`${where}: member '${m.name}' is compressed (method ${m.method}); torch.save stores members uncompressed`);
    return src.read(await memberDataOffset(src, m), m.size);
  };
  const order = byName.get(`${prefix}byteorder`);
  if (order) {
    const bo = new TextDecoder().decode(await readMember(order)).trim();
    if (bo !== 'little') throw new CheckpointError(`${where} was written on a ${bo}-endian machine; only little-endian files are supported`);
  }
  const root = unpickle(await readMember(pkl), where);
  if (!(root instanceof PickleDict)) throw new CheckpointError(`${where}: data.pkl is not a state dict (a dict of tensors)`);

  const dataOffsets = new Map<string, Promise<number>>();
  const storageData = (key: string): Promise<number> => {
    let p = dataOffsets.get(key);
    if (!p) {
      const m = byName.get(`${prefix}data/${key}`);
      if (!m) throw new CheckpointError(`${where} is missing storage '${prefix}data/${key}'`);
      if (m.method !== 0) throw new CheckpointError(`${where}: storage '${m.name}' is compressed; torch.save stores members uncompressed`);
      p = memberDataOffset(src, m);
      dataOffsets.set(key, p);
    }
    return p;
  };

  const tensors: TensorEntry[] = [];
  for (const [name, value] of root.map) {
    if (typeof name !== 'string') throw new CheckpointError(`${where}: a state-dict key is not a string (${String(name)})`);
    const t = value as TorchTensor;
    if (!t || typeof t !== 'object' || !('storage' in t)) throw new CheckpointError(`${where}: '${name}' is not a tensor`);
    const { storage, offset, shape, stride } = t;
    const m = byName.get(`${prefix}data/${storage.key}`);
    if (!m) throw new CheckpointError(`${where}: tensor '${name}' uses storage '${storage.key}', which the archive does not contain (truncated or damaged file)`);
    const es = STORED_DTYPE_BYTES[storage.dtype]!;
    if (m.size < storage.numel * es) throw new CheckpointError(`${where}: storage '${storage.key}' has ${m.size} bytes, less than its ${storage.numel} x ${storage.dtype}`);
    const n = numel(shape);
    // Elements spanned: the last element's index + 1.
    const span = n === 0 ? 0 : shape.reduce((a, d, i) => a + (d - 1) * stride[i]!, 0) + 1;
    if (offset + span > storage.numel) {
      throw new CheckpointError(`${where}: tensor '${name}' [${shape.join(', ')}] at offset ${offset} runs past its storage '${storage.key}' (${storage.numel} elements)`);
    }
    const contiguous = span === n && isRowMajor(shape, stride);
    const what = `tensor '${name}' in ${where}`;
    tensors.push({
      name,
      file: src.name,
      dtype: storage.dtype,
      shape,
      storageKey: `${src.name}#${storage.key}@${offset}/${stride.join(',')}`,
      read: async () => {
        const start = (await storageData(storage.key)) + offset * es;
        const values = decodeFloat32(await src.read(start, span * es), storage.dtype, what);
        return contiguous ? values : gather(values, shape, stride);
      },
    });
  }
  return { name: src.name, format: 'torch', tensors, metadata: {}, close: () => src.close() };
}

function isRowMajor(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Row-major copy of a strided view (e.g. a transposed weight saved as a view). */
function gather(src: Float32Array, shape: number[], stride: number[]): Float32Array {
  const out = new Float32Array(numel(shape));
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let d = 0; d < shape.length; d++) s += idx[d]! * stride[d]!;
    out[i] = src[s]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}
