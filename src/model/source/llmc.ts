/**
 * llm.c GPT-2 model checkpoint (`gpt2_124M.bin` style) reader; the fp32 writer is llmc-write.ts.
 *
 * Layout: 256 little-endian int32 header
 *   [0] magic 20240326, [1] version (3 = fp32, 5 = bf16), [2] maxT, [3] V, [4] L, [5] NH,
 *   [6] C, [7] Vp (padded vocab), rest zero;
 * then the parameters, back to back, in this order (llm.c layouts, matmul weights [out, in]):
 *   wte (Vp x C), wpe (maxT x C), ln1w (L x C), ln1b (L x C), qkvw (L x 3C x C), qkvb (L x 3C),
 *   attprojw (L x C x C), attprojb (L x C), ln2w (L x C), ln2b (L x C), fcw (L x 4C x C),
 *   fcb (L x 4C), fcprojw (L x C x 4C), fcprojb (L x C), lnfw (C), lnfb (C).
 *
 * Reading converts to canonical HF names and layouts: the four matmul weights are transposed
 * to [in, out] and the wte padding rows beyond V are dropped. The returned config uses our
 * own `paddedVocab(V)`; the file's Vp is reported separately. Browser-safe.
 */

import { CheckpointError } from '../../util/errors';
import type { ByteSource } from './bytes';
import { decodeFloat32 } from './dtype';
import type { TensorEntry, TensorFile } from './tensor-file';

export { CheckpointError };

export const LLMC_MAGIC = 20240326;
export const LLMC_VERSION_FP32 = 3;
export const LLMC_VERSION_BF16 = 5;
export const LLMC_HEADER_BYTES = 256 * 4;

const KNOWN_OTHER_MAGICS: Record<number, string> = {
  20240328: 'an llm.c tokenizer file',
  20240520: 'an llm.c data shard',
};

export interface LlmcDims {
  maxT: number;
  V: number;
  L: number;
  NH: number;
  C: number;
  Vp: number;
}

/** [name, element count] in llm.c order. */
export function llmcTensorSizes({ maxT, L, C, Vp }: LlmcDims): [string, number][] {
  return [
    ['wte', Vp * C],
    ['wpe', maxT * C],
    ['ln1w', L * C],
    ['ln1b', L * C],
    ['qkvw', L * 3 * C * C],
    ['qkvb', L * 3 * C],
    ['attprojw', L * C * C],
    ['attprojb', L * C],
    ['ln2w', L * C],
    ['ln2b', L * C],
    ['fcw', L * 4 * C * C],
    ['fcb', L * 4 * C],
    ['fcprojw', L * C * 4 * C],
    ['fcprojb', L * C],
    ['lnfw', C],
    ['lnfb', C],
  ];
}

/** src is [rows, cols] row-major; returns [cols, rows]. */
export function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = src[base + c]!;
  }
  return out;
}

/** The header of an llm.c `.bin` model checkpoint (version 3 fp32 or 5 bf16), checked against the file size. */
function parseLlmcHeader(head: Uint8Array, fileSize: number, where: string): { dims: LlmcDims; version: number } {
  if (head.byteLength < 4) {
    throw new CheckpointError(`${where} is truncated: ${fileSize} bytes, expected at least ${LLMC_HEADER_BYTES}`);
  }
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = dv.getInt32(0, true);
  if (magic !== LLMC_MAGIC) {
    const hint = KNOWN_OTHER_MAGICS[magic] ? ` (that is the magic of ${KNOWN_OTHER_MAGICS[magic]})` : '';
    throw new CheckpointError(`${where}: bad magic number ${magic}${hint}, expected ${LLMC_MAGIC} (llm.c GPT-2 model checkpoint)`);
  }
  if (head.byteLength < LLMC_HEADER_BYTES) {
    throw new CheckpointError(`${where} is truncated: ${fileSize} bytes, expected at least the ${LLMC_HEADER_BYTES}-byte header`);
  }
  const version = dv.getInt32(4, true);
  if (version !== LLMC_VERSION_FP32 && version !== LLMC_VERSION_BF16) {
    throw new CheckpointError(`${where}: unsupported version ${version} (supported: ${LLMC_VERSION_FP32} = fp32, ${LLMC_VERSION_BF16} = bf16)`);
  }
  const h = (i: number): number => dv.getInt32(i * 4, true);
  const dims: LlmcDims = { maxT: h(2), V: h(3), L: h(4), NH: h(5), C: h(6), Vp: h(7) };
  for (const [k, v] of Object.entries(dims)) {
    if (v <= 0) throw new CheckpointError(`${where}: invalid header field ${k} = ${v}`);
  }
  if (dims.Vp < dims.V) throw new CheckpointError(`${where}: padded vocab Vp = ${dims.Vp} is smaller than V = ${dims.V}`);
  const elemBytes = version === LLMC_VERSION_FP32 ? 4 : 2;
  const total = llmcTensorSizes(dims).reduce((a, [, n]) => a + n, 0);
  const expected = LLMC_HEADER_BYTES + total * elemBytes;
  if (fileSize !== expected) {
    const what = fileSize < expected ? 'is truncated' : 'has trailing data';
    throw new CheckpointError(
      `${where} ${what}: expected ${expected} bytes (${LLMC_HEADER_BYTES}-byte header + ${total} params x ${elemBytes} bytes), found ${fileSize}`,
    );
  }
  return { dims, version };
}

/**
 * Open an llm.c checkpoint through a ByteSource. Its tensors come out with canonical names and
 * HF layouts (matmul weights transposed to [in, out], wte without padding rows), each read
 * from its slice of the packed per-kind arrays when asked. The header's sizes are the file's config.
 */
export async function openLlmc(src: ByteSource): Promise<TensorFile & { version: number; filePaddedVocabSize: number }> {
  const where = `llm.c checkpoint '${src.name}'`;
  const { dims, version } = parseLlmcHeader(await src.read(0, Math.min(LLMC_HEADER_BYTES, src.size)), src.size, where);
  const elemBytes = version === LLMC_VERSION_FP32 ? 4 : 2;
  const dtype = version === LLMC_VERSION_FP32 ? 'F32' : 'BF16';
  const start = new Map<string, number>();
  let off = LLMC_HEADER_BYTES;
  for (const [name, n] of llmcTensorSizes(dims)) {
    start.set(name, off);
    off += n * elemBytes;
  }
  const { V, L, C } = dims;
  const tensors: TensorEntry[] = [];
  /** A tensor of `shape` starting at element `first` of packed array `kind`; `transposed`: stored [out, in] there. */
  const add = (name: string, shape: number[], kind: string, first: number, transposed = false): void => {
    const count = shape.reduce((a, b) => a * b, 1);
    const at = start.get(kind)! + first * elemBytes;
    tensors.push({
      name,
      file: src.name,
      dtype,
      shape,
      storageKey: `${src.name}@${at}`,
      read: async () => {
        const v = decodeFloat32(await src.read(at, count * elemBytes), dtype, `tensor '${name}' in ${where}`);
        return transposed ? transpose(v, shape[1]!, shape[0]!) : v;
      },
    });
  };
  add('wte.weight', [V, C], 'wte', 0);
  add('wpe.weight', [dims.maxT, C], 'wpe', 0);
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    add(`${p}ln_1.weight`, [C], 'ln1w', l * C);
    add(`${p}ln_1.bias`, [C], 'ln1b', l * C);
    add(`${p}attn.c_attn.weight`, [C, 3 * C], 'qkvw', l * 3 * C * C, true);
    add(`${p}attn.c_attn.bias`, [3 * C], 'qkvb', l * 3 * C);
    add(`${p}attn.c_proj.weight`, [C, C], 'attprojw', l * C * C, true);
    add(`${p}attn.c_proj.bias`, [C], 'attprojb', l * C);
    add(`${p}ln_2.weight`, [C], 'ln2w', l * C);
    add(`${p}ln_2.bias`, [C], 'ln2b', l * C);
    add(`${p}mlp.c_fc.weight`, [C, 4 * C], 'fcw', l * 4 * C * C, true);
    add(`${p}mlp.c_fc.bias`, [4 * C], 'fcb', l * 4 * C);
    add(`${p}mlp.c_proj.weight`, [4 * C, C], 'fcprojw', l * C * 4 * C, true);
    add(`${p}mlp.c_proj.bias`, [C], 'fcprojb', l * C);
  }
  add('ln_f.weight', [C], 'lnfw', 0);
  add('ln_f.bias', [C], 'lnfb', 0);
  return {
    name: src.name,
    format: 'llmc',
    tensors,
    metadata: {},
    config: { nLayer: L, nHead: dims.NH, nEmbd: C, nPositions: dims.maxT, vocabSize: V },
    version,
    filePaddedVocabSize: dims.Vp,
    close: () => src.close(),
  };
}
