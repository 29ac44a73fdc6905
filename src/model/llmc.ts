/**
 * llm.c GPT-2 model checkpoint (`gpt2_124M.bin` style) reader and fp32 writer.
 * Browser-safe: no Node built-ins.
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
 * own `paddedVocab(V)`; the file's Vp is reported separately.
 */

import { CheckpointError, makeConfig, type GPT2Config } from './config';
import { canonicalParamList, configFromMetadata, loadGPT2Weights, type HFGPT2ConfigJson } from './hfnames';
import { parseSafetensors } from './safetensors';

export { CheckpointError };

export const LLMC_MAGIC = 20240326;
export const LLMC_VERSION_FP32 = 3;
export const LLMC_VERSION_BF16 = 5;
export const LLMC_HEADER_BYTES = 256 * 4;

const KNOWN_OTHER_MAGICS: Record<number, string> = {
  20240328: 'an llm.c tokenizer file',
  20240520: 'an llm.c data shard',
};

export interface LlmcCheckpoint {
  config: GPT2Config;
  /** Canonical HF names and layouts, in `paramShapes` order. */
  params: Map<string, Float32Array>;
  /** 3 (fp32) or 5 (bf16). */
  version: number;
  /** The file's padded vocab (header[7]). */
  filePaddedVocabSize: number;
}

interface Dims {
  maxT: number;
  V: number;
  L: number;
  NH: number;
  C: number;
  Vp: number;
}

/** [name, element count] in llm.c order. */
function llmcTensorSizes({ maxT, L, C, Vp }: Dims): [string, number][] {
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

/** Parse an llm.c `.bin` model checkpoint (version 3 fp32 or 5 bf16). */
export function parseLlmcCheckpoint(bytes: Uint8Array, fileName = '<llm.c buffer>'): LlmcCheckpoint {
  const where = `llm.c checkpoint '${fileName}'`;
  if (bytes.byteLength < 4) {
    throw new CheckpointError(`${where} is truncated: ${bytes.byteLength} bytes, expected at least ${LLMC_HEADER_BYTES}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getInt32(0, true);
  if (magic !== LLMC_MAGIC) {
    const hint = KNOWN_OTHER_MAGICS[magic] ? ` (that is the magic of ${KNOWN_OTHER_MAGICS[magic]})` : '';
    throw new CheckpointError(
      `${where}: bad magic number ${magic}${hint}, expected ${LLMC_MAGIC} (llm.c GPT-2 model checkpoint)`,
    );
  }
  if (bytes.byteLength < LLMC_HEADER_BYTES) {
    throw new CheckpointError(
      `${where} is truncated: ${bytes.byteLength} bytes, expected at least the ${LLMC_HEADER_BYTES}-byte header`,
    );
  }
  const version = dv.getInt32(4, true);
  if (version !== LLMC_VERSION_FP32 && version !== LLMC_VERSION_BF16) {
    throw new CheckpointError(
      `${where}: unsupported version ${version} (supported: ${LLMC_VERSION_FP32} = fp32, ${LLMC_VERSION_BF16} = bf16)`,
    );
  }
  const h = (i: number): number => dv.getInt32(i * 4, true);
  const dims: Dims = { maxT: h(2), V: h(3), L: h(4), NH: h(5), C: h(6), Vp: h(7) };
  for (const [k, v] of Object.entries(dims)) {
    if (v <= 0) throw new CheckpointError(`${where}: invalid header field ${k} = ${v}`);
  }
  if (dims.Vp < dims.V) {
    throw new CheckpointError(`${where}: padded vocab Vp = ${dims.Vp} is smaller than V = ${dims.V}`);
  }
  const config = makeConfig({ nLayer: dims.L, nHead: dims.NH, nEmbd: dims.C, nPositions: dims.maxT, vocabSize: dims.V });

  const elemBytes = version === LLMC_VERSION_FP32 ? 4 : 2;
  const sizes = llmcTensorSizes(dims);
  const total = sizes.reduce((a, [, n]) => a + n, 0);
  const expected = LLMC_HEADER_BYTES + total * elemBytes;
  if (bytes.byteLength !== expected) {
    const what = bytes.byteLength < expected ? 'is truncated' : 'has trailing data';
    throw new CheckpointError(
      `${where} ${what}: expected ${expected} bytes (${LLMC_HEADER_BYTES}-byte header + ${total} params x ${elemBytes} bytes), found ${bytes.byteLength}`,
    );
  }

  // Decode every llm.c tensor to f32.
  const raw = new Map<string, Float32Array>();
  let off = LLMC_HEADER_BYTES;
  for (const [name, n] of sizes) {
    const out = new Float32Array(n);
    if (elemBytes === 4) {
      new Uint8Array(out.buffer).set(bytes.subarray(off, off + n * 4));
      if (!isLittleEndian()) for (let i = 0; i < n; i++) out[i] = dv.getFloat32(off + i * 4, true);
    } else {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(off + i * 2, true) << 16;
    }
    raw.set(name, out);
    off += n * elemBytes;
  }

  const { V, L, C } = dims;
  const g = (k: string): Float32Array => raw.get(k)!;
  const params = new Map<string, Float32Array>();
  params.set('wte.weight', g('wte').slice(0, V * C));
  params.set('wpe.weight', g('wpe'));
  for (let l = 0; l < L; l++) {
    const p = `h.${l}.`;
    const sl = (k: string, n: number): Float32Array => g(k).slice(l * n, (l + 1) * n);
    params.set(`${p}ln_1.weight`, sl('ln1w', C));
    params.set(`${p}ln_1.bias`, sl('ln1b', C));
    params.set(`${p}attn.c_attn.weight`, transpose(sl('qkvw', 3 * C * C), 3 * C, C));
    params.set(`${p}attn.c_attn.bias`, sl('qkvb', 3 * C));
    params.set(`${p}attn.c_proj.weight`, transpose(sl('attprojw', C * C), C, C));
    params.set(`${p}attn.c_proj.bias`, sl('attprojb', C));
    params.set(`${p}ln_2.weight`, sl('ln2w', C));
    params.set(`${p}ln_2.bias`, sl('ln2b', C));
    params.set(`${p}mlp.c_fc.weight`, transpose(sl('fcw', 4 * C * C), 4 * C, C));
    params.set(`${p}mlp.c_fc.bias`, sl('fcb', 4 * C));
    params.set(`${p}mlp.c_proj.weight`, transpose(sl('fcprojw', C * 4 * C), C, 4 * C));
    params.set(`${p}mlp.c_proj.bias`, sl('fcprojb', C));
  }
  params.set('ln_f.weight', g('lnfw'));
  params.set('ln_f.bias', g('lnfb'));
  return { config, params, version, filePaddedVocabSize: dims.Vp };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/**
 * Write canonical params (HF names/layout) as an llm.c fp32 (version 3) checkpoint.
 * wte is padded with zero rows up to `paddedVocabSize` (default `config.paddedVocabSize`).
 */
export function writeLlmcCheckpoint(
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array>,
  opts: { paddedVocabSize?: number } = {},
): Uint8Array {
  const list = canonicalParamList(config, params);
  const byName = new Map(list.map((p) => [p.name, p.data]));
  const g = (k: string): Float32Array => byName.get(k)!;
  const dims: Dims = {
    maxT: config.nPositions,
    V: config.vocabSize,
    L: config.nLayer,
    NH: config.nHead,
    C: config.nEmbd,
    Vp: opts.paddedVocabSize ?? config.paddedVocabSize,
  };
  if (!Number.isSafeInteger(dims.Vp) || dims.Vp < dims.V) {
    throw new CheckpointError(`llm.c padded vocab ${dims.Vp} must be an integer >= vocab size ${dims.V}`);
  }
  const sizes = llmcTensorSizes(dims);
  const total = sizes.reduce((a, [, n]) => a + n, 0);
  const out = new Uint8Array(LLMC_HEADER_BYTES + total * 4);
  const dv = new DataView(out.buffer);
  const header = [LLMC_MAGIC, LLMC_VERSION_FP32, dims.maxT, dims.V, dims.L, dims.NH, dims.C, dims.Vp];
  header.forEach((v, i) => dv.setInt32(i * 4, v, true));

  const { L, C } = dims;
  let off = LLMC_HEADER_BYTES;
  const body = new Float32Array(out.buffer, LLMC_HEADER_BYTES, total);
  const le = isLittleEndian();
  const put = (a: Float32Array): void => {
    if (le) body.set(a, (off - LLMC_HEADER_BYTES) / 4);
    else for (let i = 0; i < a.length; i++) dv.setFloat32(off + i * 4, a[i]!, true);
    off += a.length * 4;
  };
  const perLayer = (suffix: string, fn: (a: Float32Array) => Float32Array = (a) => a): void => {
    for (let l = 0; l < L; l++) put(fn(g(`h.${l}.${suffix}`)));
  };
  put(g('wte.weight'));
  off += (dims.Vp - dims.V) * C * 4; // zero padding rows
  put(g('wpe.weight'));
  perLayer('ln_1.weight');
  perLayer('ln_1.bias');
  perLayer('attn.c_attn.weight', (a) => transpose(a, C, 3 * C));
  perLayer('attn.c_attn.bias');
  perLayer('attn.c_proj.weight', (a) => transpose(a, C, C));
  perLayer('attn.c_proj.bias');
  perLayer('ln_2.weight');
  perLayer('ln_2.bias');
  perLayer('mlp.c_fc.weight', (a) => transpose(a, C, 4 * C));
  perLayer('mlp.c_fc.bias');
  perLayer('mlp.c_proj.weight', (a) => transpose(a, 4 * C, C));
  perLayer('mlp.c_proj.bias');
  put(g('ln_f.weight'));
  put(g('ln_f.bias'));
  if (off !== out.byteLength) throw new Error(`internal: llm.c writer wrote ${off} of ${out.byteLength} bytes`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Format dispatch on in-memory bytes (browser-safe; lives here because it needs both readers).

export type CheckpointFormat = 'safetensors' | 'llmc';

/**
 * 'llmc' if the first int32 is the llm.c magic; 'safetensors' if byte 8 starts the JSON header;
 * otherwise guessed from the file name (`.bin` -> 'llmc'), so the matching parser reports the error.
 */
export function detectCheckpointFormat(bytes: Uint8Array, fileName = ''): CheckpointFormat {
  if (bytes.byteLength >= 4) {
    const magic = new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
    if (magic === LLMC_MAGIC) return 'llmc';
  }
  if (bytes.byteLength >= 9 && bytes[8] === 0x7b /* '{' */) return 'safetensors';
  return /\.bin$/i.test(fileName) ? 'llmc' : 'safetensors';
}

export interface LoadedCheckpoint {
  format: CheckpointFormat;
  config: GPT2Config;
  /** Canonical HF names and layouts, in `paramShapes` order. */
  params: Map<string, Float32Array>;
  /** safetensors `__metadata__` (empty for llm.c files). */
  metadata: Record<string, string>;
}

/**
 * Parse checkpoint bytes of either format. For safetensors, `config` (GPT2Config or HF
 * config.json object) supplies the model config when `__metadata__` lacks it; if both exist
 * they must agree. llm.c files carry their config in the header and ignore `config`.
 */
export function loadCheckpointBytes(
  bytes: Uint8Array,
  opts: { fileName?: string; config?: GPT2Config | HFGPT2ConfigJson } = {},
): LoadedCheckpoint {
  const fileName = opts.fileName ?? '<checkpoint buffer>';
  if (detectCheckpointFormat(bytes, fileName) === 'llmc') {
    const ck = parseLlmcCheckpoint(bytes, fileName);
    return { format: 'llmc', config: ck.config, params: ck.params, metadata: {} };
  }
  const parsed = parseSafetensors(bytes, fileName);
  const { config, params } = loadGPT2Weights(parsed, opts.config);
  return { format: 'safetensors', config, params, metadata: parsed.metadata };
}

/** True if safetensors metadata carries the model config (so no config.json is needed). */
export function metadataHasConfig(metadata: Record<string, string>, fileName?: string): boolean {
  return configFromMetadata(metadata, fileName) !== null;
}
