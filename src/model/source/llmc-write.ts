/**
 * llm.c GPT-2 model checkpoint writer: canonical params (HF names and layouts) as an fp32
 * (version 3) `.bin`, the layout llmc.ts (the reader) describes: the four matmul weights
 * transposed back to [out, in], wte padded with zero rows to Vp. Browser-safe.
 */

import { makeConfig, type GPT2Config } from '../config';
import { CheckpointError } from '../../util/errors';
import { LLMC_HEADER_BYTES, LLMC_MAGIC, LLMC_VERSION_FP32, llmcTensorSizes, transpose, type LlmcDims } from './llmc';
import { canonicalParamList } from './names';

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
  // The format has room for the five sizes only; anything else would be read back as stock GPT-2.
  const stock = makeConfig({ nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd, nPositions: config.nPositions, vocabSize: config.vocabSize });
  const differ = (Object.keys(stock) as (keyof GPT2Config)[]).filter((k) => k !== 'paddedVocabSize' && stock[k] !== config[k]);
  if (differ.length > 0) {
    throw new CheckpointError(`an llm.c checkpoint stores stock GPT-2 only; this config sets ${differ.map((k) => `${k} = ${String(config[k])}`).join(', ')}: save as safetensors instead`);
  }
  const list = canonicalParamList(config, params);
  const byName = new Map(list.map((p) => [p.name, p.data]));
  const g = (k: string): Float32Array => byName.get(k)!;
  const dims: LlmcDims = {
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

