import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { PRESET_NAMES, makeConfig, paddedVocab, paramCount, paramShapes, presetConfig, type GPT2Config } from '../src/model/config';
import { CheckpointError } from '../src/util/errors';
import { parseSafetensors, toFloat32 } from '../src/model/source/safetensors';
import { saveGPT2Weights, serializeSafetensors, type TensorToWrite } from '../src/model/source/safetensors-write';
import { configFromHFJson, configToMetadata } from '../src/model/source/config';
import { LLMC_HEADER_BYTES, openLlmc } from '../src/model/source/llmc';
import { writeLlmcCheckpoint } from '../src/model/source/llmc-write';
import { bytesSource } from '../src/model/source/bytes';
import { detectFormat } from '../src/model/source/tensors';
import { readCheckpointBytes } from '../src/model/source/open';
import { readCheckpoint } from '../src/model/checkpoint.node';
import { writeCheckpoint, writeFileAtomic } from '../src/model/checkpoint-write.node';

const FIXTURES = fileURLToPath(new URL('./fixtures/gpt2-tiny', import.meta.url));
const INIT_PATH = join(FIXTURES, 'init.safetensors');
const initBytes = new Uint8Array(readFileSync(INIT_PATH));
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as {
  param_l2_norms: { init: Record<string, number> };
};

const TINY: GPT2Config = makeConfig({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 512 });

async function loadInit(): Promise<{ config: GPT2Config; params: Map<string, Float32Array> }> {
  return readCheckpointBytes(initBytes, { fileName: 'init.safetensors' });
}

/** An in-memory file through the loader pipeline (the config from its metadata or `configJson`). */
function load(bytes: Uint8Array, fileName: string, configJson?: Record<string, unknown>) {
  return readCheckpointBytes(bytes, { fileName, configJson });
}

async function readLlmc(bytes: Uint8Array, name = 'model.bin') {
  const f = await openLlmc(bytesSource(bytes, name));
  return { version: f.version, filePaddedVocabSize: f.filePaddedVocabSize, ...(await readCheckpointBytes(bytes, { fileName: name })) };
}

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

function expectBitEqual(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  expect([...a.keys()]).toEqual([...b.keys()]);
  for (const [k, v] of a) expect(bits(b.get(k)!), k).toEqual(bits(v));
}

/** Re-serialize a parsed file's tensors with a transform on the entry list. */
function rewrite(
  edit: (ts: TensorToWrite[]) => TensorToWrite[],
  metadata: Record<string, string> | undefined = undefined,
): Uint8Array {
  const parsed = parseSafetensors(initBytes, 'init.safetensors');
  const ts: TensorToWrite[] = [...parsed.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data }));
  return serializeSafetensors(edit(ts), metadata ?? parsed.metadata);
}

/** A hand-built safetensors file from a literal header object and a data section size. */
function rawFile(header: unknown, dataBytes: number, headerText?: string): Uint8Array {
  const h = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  return out;
}

function l2(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v * v;
  return Math.sqrt(s);
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mqg-ckpt-'));
}

describe('config', () => {
  it('pads the vocab to a multiple of 64', async () => {
    expect(paddedVocab(50257)).toBe(50304);
    expect(paddedVocab(512)).toBe(512);
    expect(paddedVocab(28896)).toBe(28928);
    expect(paddedVocab(1)).toBe(64);
  });

  it('builds presets with the documented sizes', () => {
    const semantics = { layerNormEpsilon: 1e-5, activation: 'gelu_new', scaleAttnWeights: true, scaleAttnByInverseLayerIdx: false, tieWordEmbeddings: true, reorderAndUpcastAttn: false };
    expect(presetConfig('gpt2')).toEqual({
      nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257, paddedVocabSize: 50304, nInner: 3072, ...semantics,
    });
    expect(paramCount(presetConfig('gpt2'))).toBe(124_439_808); // HF GPT2LMHeadModel, tied
    expect(paramCount(presetConfig('gpt2-medium'))).toBe(354_823_168);
    expect(presetConfig('biomedlm')).toEqual({
      nLayer: 32, nHead: 20, nEmbd: 2560, nPositions: 1024, vocabSize: 28896, paddedVocabSize: 28928, nInner: 10240,
      ...semantics, scaleAttnByInverseLayerIdx: true,
    });
    expect(presetConfig('mqg-tiny', 1000)).toEqual({
      nLayer: 4, nHead: 4, nEmbd: 128, nPositions: 256, vocabSize: 1000, paddedVocabSize: 1024, nInner: 512, ...semantics,
    });
    expect(presetConfig('mqg-small', 4096)).toMatchObject({ nLayer: 6, nHead: 6, nEmbd: 384, nPositions: 512 });
    expect(PRESET_NAMES).toEqual(['mqg-tiny', 'mqg-small', 'gpt2', 'gpt2-medium', 'biomedlm']);
  });

  it('rejects unknown presets, missing mqg vocab and bad configs', async () => {
    // @ts-expect-error 'gpt3' is not a PresetName: the type rejects it, and so does the run-time check
    expect(() => presetConfig('gpt3')).toThrow(
      /unknown model preset 'gpt3' \(valid presets: mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm\)/,
    );
    expect(() => presetConfig('mqg-tiny')).toThrow(/'mqg-tiny' takes its vocab size from the tokenizer/);
    expect(() => makeConfig({ nLayer: 2, nHead: 5, nEmbd: 64, nPositions: 8, vocabSize: 10 })).toThrow(
      /nEmbd \(64\) must be divisible by nHead \(5\)/,
    );
    // @ts-expect-error not a PresetName
    expect(() => presetConfig('gpt3')).toThrow(CheckpointError);
  });

  it('lists the tiny params in HF order and layout, 136,960 in all', async () => {
    const shapes = paramShapes(TINY);
    expect(shapes.length).toBe(28); // wte, wpe, 12 per layer x 2, ln_f.{weight,bias}
    expect(shapes.slice(0, 6)).toEqual([
      { name: 'wte.weight', shape: [512, 64] },
      { name: 'wpe.weight', shape: [64, 64] },
      { name: 'h.0.ln_1.weight', shape: [64] },
      { name: 'h.0.ln_1.bias', shape: [64] },
      { name: 'h.0.attn.c_attn.weight', shape: [64, 192] },
      { name: 'h.0.attn.c_attn.bias', shape: [192] },
    ]);
    expect(shapes[26]).toEqual({ name: 'ln_f.weight', shape: [64] });
    expect(paramCount(TINY)).toBe(136_960);
  });
});

describe('safetensors: golden init.safetensors', () => {
  it('parses 28 tensors with the README shapes and metadata', async () => {
    const parsed = parseSafetensors(initBytes, 'init.safetensors');
    expect(parsed.tensors.size).toBe(28);
    const shapeOf = (n: string): number[] => parsed.tensors.get(n)!.shape;
    expect(shapeOf('transformer.wte.weight')).toEqual([512, 64]);
    expect(shapeOf('transformer.wpe.weight')).toEqual([64, 64]);
    for (const i of [0, 1]) {
      const p = `transformer.h.${i}.`;
      expect(shapeOf(`${p}ln_1.weight`)).toEqual([64]);
      expect(shapeOf(`${p}ln_1.bias`)).toEqual([64]);
      expect(shapeOf(`${p}attn.c_attn.weight`)).toEqual([64, 192]);
      expect(shapeOf(`${p}attn.c_attn.bias`)).toEqual([192]);
      expect(shapeOf(`${p}attn.c_proj.weight`)).toEqual([64, 64]);
      expect(shapeOf(`${p}attn.c_proj.bias`)).toEqual([64]);
      expect(shapeOf(`${p}ln_2.weight`)).toEqual([64]);
      expect(shapeOf(`${p}ln_2.bias`)).toEqual([64]);
      expect(shapeOf(`${p}mlp.c_fc.weight`)).toEqual([64, 256]);
      expect(shapeOf(`${p}mlp.c_fc.bias`)).toEqual([256]);
      expect(shapeOf(`${p}mlp.c_proj.weight`)).toEqual([256, 64]);
      expect(shapeOf(`${p}mlp.c_proj.bias`)).toEqual([64]);
    }
    expect(shapeOf('transformer.ln_f.weight')).toEqual([64]);
    expect(shapeOf('transformer.ln_f.bias')).toEqual([64]);
    expect([...parsed.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    expect(parsed.metadata).toEqual({
      n_layer: '2',
      n_head: '4',
      n_embd: '64',
      n_positions: '64',
      vocab_size: '512',
      format: 'pt',
      source: 'karpathy/llm.c train_gpt2.c (CPU fp32) oracle',
    });
  });

  it('loads the config from metadata and the stored values', async () => {
    const { config, params } = await loadInit();
    expect(config).toEqual(TINY);
    expect(params.size).toBe(28);
    let total = 0;
    for (const v of params.values()) total += v.length;
    expect(total).toBe(136_960);
    const wte = params.get('wte.weight')!;
    expect(wte[0]).toBe(Math.fround(-0.03207673504948616));
    expect(wte[1]).toBe(Math.fround(0.0012819982366636395));
    expect(wte[2]).toBe(Math.fround(0.014817825518548489));
    expect(params.get('h.1.attn.c_attn.weight')![2 * 192 + 5]).toBe(Math.fround(0.025160418823361397));
    expect(params.get('ln_f.bias')![63]).toBe(Math.fround(0.04697003215551376));
    // Per-tensor L2 norms from expected.json (computed in float64 by the data's author).
    for (const [hfName, norm] of Object.entries(expected.param_l2_norms.init)) {
      const name = hfName.replace(/^transformer\./, '');
      expect(l2(params.get(name)!), name).toBeCloseTo(norm, 10);
    }
  });

  it('re-saving init keeps every tensor byte and the metadata, adding the full config', async () => {
    const { config, params } = await loadInit();
    const again = parseSafetensors(saveGPT2Weights(config, params, 'F32', { source: 'karpathy/llm.c train_gpt2.c (CPU fp32) oracle' }));
    const orig = parseSafetensors(initBytes);
    expect([...again.tensors.keys()]).toEqual([...orig.tensors.keys()]);
    for (const [k, t] of orig.tensors) expect(Buffer.from(again.tensors.get(k)!.data).equals(Buffer.from(t.data)), k).toBe(true);
    expect(again.metadata).toEqual({ ...orig.metadata, config: configToMetadata(config).config });
  });
});

describe('safetensors: round trips', () => {
  it('F32 save -> load is bit-exact, with config and format in the metadata', async () => {
    const { config, params } = await loadInit();
    const bytes = saveGPT2Weights(config, params);
    const parsed = parseSafetensors(bytes, 'rt.safetensors');
    expect(parsed.metadata).toEqual({
      n_layer: '2', n_head: '4', n_embd: '64', n_positions: '64', vocab_size: '512', format: 'pt', config: parsed.metadata.config,
    });
    expect(configFromHFJson(JSON.parse(parsed.metadata.config!))).toEqual(TINY);
    expect([...parsed.tensors.keys()][0]).toBe('transformer.wte.weight');
    const back = await load(bytes, 'rt.safetensors');
    expect(back.config).toEqual(TINY);
    expectBitEqual(params, back.params);
    // Header length is a multiple of 8 and the data starts right after it.
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(bytes.length).toBe(8 + n + 136_960 * 4);
  });

  it('keeps the config keys when extra metadata tries to override them', async () => {
    const { config, params } = await loadInit();
    const meta = parseSafetensors(saveGPT2Weights(config, params, 'F32', { n_layer: '7', step: '100' })).metadata;
    expect(meta['n_layer']).toBe('2');
    expect(meta['step']).toBe('100');
  });

  const SPECIAL = [1.0, -2.5, 65504, 1e-8, 1e-7, 0.1, -0, 3];

  async function withSpecial(): Promise<{ config: GPT2Config; params: Map<string, Float32Array> }> {
    const { config, params } = await loadInit();
    params.get('ln_f.weight')!.set(SPECIAL);
    return { config, params };
  }

  it('F16 round trip: exact where representable, 1e-8 -> 0, 1e-7 -> subnormal 2^-23', async () => {
    const { config, params } = await withSpecial();
    const bytes = saveGPT2Weights(config, params, 'F16');
    const parsed = parseSafetensors(bytes);
    const t = parsed.tensors.get('transformer.ln_f.weight')!;
    expect(t.dtype).toBe('F16');
    expect(t.data.length).toBe(64 * 2);
    expect(t.data[0] | (t.data[1] << 8)).toBe(0x3c00); // 1.0
    expect(t.data[4] | (t.data[5] << 8)).toBe(0x7bff); // 65504
    const back = (await load(bytes, 'rt.safetensors')).params;
    expect(Array.from(back.get('ln_f.weight')!.subarray(0, SPECIAL.length))).toEqual([
      1, -2.5, 65504, 0, 1.1920928955078125e-7, 0.0999755859375, -0, 3,
    ]);
    expect(Object.is(back.get('ln_f.weight')![6], -0)).toBe(true);
    // Everything else within f16 precision (normal range: relative 2^-11; small values: 2^-25 abs).
    for (const [k, v] of params) {
      const w = back.get(k)!;
      let bad = 0;
      for (let i = 0; i < v.length; i++) {
        if (!(Math.abs(w[i]! - v[i]!) <= Math.max(Math.abs(v[i]!) * 2 ** -11, 2 ** -25))) bad++;
      }
      expect(bad, k).toBe(0);
    }
  });

  it('F16 save rejects values that would overflow to Infinity, naming the tensor', async () => {
    const { config, params } = await loadInit();
    params.get('h.1.mlp.c_fc.bias')![3] = 70000;
    expect(() => saveGPT2Weights(config, params, 'F16')).toThrow(
      /parameter 'h\.1\.mlp\.c_fc\.bias' element 3 = 70000 is outside the F16 range/,
    );
  });

  it('BF16 round trip: round-to-nearest-even on the top 16 bits', async () => {
    const { config, params } = await withSpecial();
    const bytes = saveGPT2Weights(config, params, 'BF16');
    const parsed = parseSafetensors(bytes);
    const t = parsed.tensors.get('transformer.ln_f.weight')!;
    expect(t.dtype).toBe('BF16');
    expect(t.data[0] | (t.data[1] << 8)).toBe(0x3f80); // 1.0
    expect(t.data[6] | (t.data[7] << 8)).toBe(0x322c); // 1e-8
    const back = (await load(bytes, 'rt.safetensors')).params;
    expect(Array.from(back.get('ln_f.weight')!.subarray(0, SPECIAL.length))).toEqual([
      1, -2.5, 65536, 1.0011717677116394e-8, 1.0011717677116394e-7, 0.10009765625, -0, 3,
    ]);
    for (const [k, v] of params) {
      const w = back.get(k)!;
      let bad = 0;
      for (let i = 0; i < v.length; i++) if (!(Math.abs(w[i]! - v[i]!) <= Math.abs(v[i]!) * 2 ** -8)) bad++;
      expect(bad, k).toBe(0);
    }
  });

  it('toFloat32 converts hand-written F16 and BF16 bytes', async () => {
    const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001, 0x7c00]);
    const bf16 = new Uint16Array([0x3f80, 0xc020, 0x4780]);
    const parsed = parseSafetensors(
      serializeSafetensors([
        { name: 'a', dtype: 'F16', shape: [5], data: f16 },
        { name: 'b', dtype: 'BF16', shape: [3], data: bf16 },
      ]),
    );
    expect(Array.from(toFloat32(parsed.tensors.get('a')!))).toEqual([1, -2.5, 65504, 2 ** -24, Infinity]);
    expect(Array.from(toFloat32(parsed.tensors.get('b')!))).toEqual([1, -2.5, 65536]);
    expect(parsed.metadata).toEqual({});
  });
});

describe('HF name mapping', () => {
  it('loads keys without the transformer. prefix identically', async () => {
    const bytes = rewrite((ts) => ts.map((t) => ({ ...t, name: t.name.replace(/^transformer\./, '') })));
    const parsed = parseSafetensors(bytes, 'noprefix.safetensors');
    expect(parsed.tensors.has('h.0.attn.c_attn.weight')).toBe(true);
    expect(parsed.tensors.has('transformer.h.0.attn.c_attn.weight')).toBe(false);
    const a = await load(bytes, 'noprefix.safetensors');
    expect(a.config).toEqual(TINY);
    expectBitEqual((await loadInit()).params, a.params);
  });

  it('ignores attn.bias / attn.masked_bias buffers and accepts a tied lm_head', async () => {
    const parsed0 = parseSafetensors(initBytes);
    const wte = parsed0.tensors.get('transformer.wte.weight')!;
    const bytes = rewrite((ts) => [
      ...ts,
      { name: 'transformer.h.0.attn.bias', dtype: 'F32', shape: [1, 1, 64, 64], data: new Float32Array(4096).fill(1) },
      { name: 'h.1.attn.masked_bias', dtype: 'F32', shape: [], data: new Float32Array([-1e4]) },
      { name: 'lm_head.weight', dtype: 'F32', shape: [512, 64], data: wte.data },
    ]);
    const { params } = await load(bytes, 'buffers.safetensors');
    expect(params.size).toBe(28);
    expect(params.has('h.0.attn.bias')).toBe(false);
    expectBitEqual((await loadInit()).params, params);
  });

  it('rejects a tied config whose stored lm_head differs from wte', async () => {
    const lm = new Float32Array(512 * 64); // zeros != wte
    const bytes = rewrite((ts) => [...ts, { name: 'lm_head.weight', dtype: 'F32', shape: [512, 64], data: lm }]);
    await expect(load(bytes, 'untied.safetensors')).rejects.toThrow(
      /'untied\.safetensors': the config ties lm_head to wte .* differs from wte \(first at element 0\); set "tie_word_embeddings": false/,
    );
  });

  it('takes the config from a config.json object when metadata lacks it (n_ctx fallback)', async () => {
    const bytes = rewrite((ts) => ts, { format: 'pt' });
    const parsed = parseSafetensors(bytes, 'nometa.safetensors');
    await expect(load(bytes, 'nometa.safetensors')).rejects.toThrow(/no model config for nometa\.safetensors/);
    const json = { n_layer: 2, n_head: 4, n_embd: 64, n_ctx: 64, vocab_size: 512, model_type: 'gpt2' };
    expect(configFromHFJson(json)).toEqual(TINY);
    const { config, params } = await load(bytes, 'nometa.safetensors', json);
    expect(config).toEqual(TINY);
    expectBitEqual((await loadInit()).params, params);
    expect(() => configFromHFJson({ n_layer: 2, n_head: 4, n_embd: 64, vocab_size: 512 })).toThrow(
      /config\.json: missing n_positions \/ n_ctx/,
    );
  });

  it('rejects a given config that disagrees with the metadata', async () => {
    await expect(readCheckpointBytes(initBytes, { fileName: 'init.safetensors', config: { ...TINY, nHead: 8 } })).rejects.toThrow(
      /init\.safetensors: the __metadata__ of init\.safetensors says n_head = 4 but the given config says 8/,
    );
  });

  it('errors on a missing tensor, naming it', async () => {
    const bytes = rewrite((ts) => ts.filter((t) => t.name !== 'transformer.h.1.mlp.c_fc.bias'));
    await expect(load(bytes, 'missing.safetensors')).rejects.toThrow(
      /'missing\.safetensors' is missing tensor 'transformer\.h\.1\.mlp\.c_fc\.bias' \(expected shape \[256\]\)/,
    );
  });

  it('errors on a wrong shape with both shapes in the message', async () => {
    const bytes = rewrite((ts) =>
      ts.map((t) => (t.name === 'transformer.h.0.attn.c_attn.weight' ? { ...t, shape: [192, 64] } : t)),
    );
    await expect(load(bytes, 'shape.safetensors')).rejects.toThrow(
      /tensor 'transformer\.h\.0\.attn\.c_attn\.weight' in 'shape\.safetensors' has shape \[192, 64\], expected \[64, 192\]/,
    );
  });

  it('errors on an unknown extra tensor, naming it', async () => {
    const bytes = rewrite((ts) => [
      ...ts,
      { name: 'transformer.h.2.ln_1.weight', dtype: 'F32', shape: [64], data: new Float32Array(64) },
    ]);
    await expect(load(bytes, 'extra.safetensors')).rejects.toThrow(
      /'extra\.safetensors' has unknown tensor 'transformer\.h\.2\.ln_1\.weight' \(not a GPT-2 parameter for n_layer=2\)/,
    );
  });

  it('errors on a duplicate prefixed/unprefixed pair', async () => {
    const bytes = rewrite((ts) => [...ts, { ...ts[27]!, name: 'ln_f.bias' }]);
    await expect(load(bytes, 'dup.safetensors')).rejects.toThrow(
      /contains both 'transformer\.ln_f\.bias' and 'ln_f\.bias'/,
    );
  });

  it('saving rejects missing, mis-sized and unknown params', async () => {
    const { config, params } = await loadInit();
    const p1 = new Map(params);
    p1.delete('h.0.ln_2.bias');
    expect(() => saveGPT2Weights(config, p1)).toThrow(/missing parameter 'h\.0\.ln_2\.bias'/);
    const p2 = new Map(params);
    p2.set('wpe.weight', new Float32Array(10));
    expect(() => saveGPT2Weights(config, p2)).toThrow(/'wpe\.weight' has 10 elements, expected 4096 \(shape \[64, 64\]\)/);
    const p3 = new Map(params);
    p3.set('h.0.attn.bias', new Float32Array(1));
    expect(() => saveGPT2Weights(config, p3)).toThrow(/unknown parameter 'h\.0\.attn\.bias'/);
  });

  it('saving drops wte padding rows (paddedVocabSize rows accepted)', async () => {
    const { params } = await loadInit();
    const cfg = makeConfig({ ...TINY, vocabSize: 500 }); // padded to 512
    expect(cfg.paddedVocabSize).toBe(512);
    const p = new Map(params);
    p.set('wte.weight', params.get('wte.weight')!); // 512 rows = paddedVocabSize
    const bytes = saveGPT2Weights(cfg, p);
    const parsed = parseSafetensors(bytes);
    expect(parsed.tensors.get('transformer.wte.weight')!.shape).toEqual([500, 64]);
    expect(bits((await load(bytes, 'rt.safetensors')).params.get('wte.weight')!)).toEqual(bits(params.get('wte.weight')!.subarray(0, 500 * 64)));
  });
});

describe('safetensors: bad files', () => {
  it('file shorter than 8 bytes', async () => {
    expect(() => parseSafetensors(new Uint8Array(5), 'tiny.safetensors')).toThrow(
      /safetensors file 'tiny\.safetensors' is truncated: 5 bytes, too short for the 8-byte header length/,
    );
  });

  it('header length beyond the file', async () => {
    expect(() => parseSafetensors(initBytes.subarray(0, 1000), 'cut.safetensors')).toThrow(
      /'cut\.safetensors' is truncated: header length 2776 bytes exceeds the 992 bytes/,
    );
  });

  it('header that is not valid JSON', async () => {
    const f = rawFile(null, 0, '{"a": {"dtype": "F32",');
    expect(() => parseSafetensors(f, 'badjson.safetensors')).toThrow(
      /safetensors file 'badjson\.safetensors' has an invalid JSON header/,
    );
    expect(() => parseSafetensors(rawFile(null, 0, '[1,2]   '), 'arr.safetensors')).toThrow(/expected a JSON object/);
  });

  it('truncated data names the tensor', async () => {
    expect(() => parseSafetensors(initBytes.subarray(0, initBytes.length - 100), 'short.safetensors')).toThrow(
      /tensor 'transformer\.ln_f\.bias' in safetensors file 'short\.safetensors' is truncated: its data_offsets \[547584, 547840\] extend beyond the 547740 data bytes/,
    );
  });

  it('offsets inconsistent with shape x dtype', async () => {
    const f = rawFile({ w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 24);
    expect(() => parseSafetensors(f, 'incons.safetensors')).toThrow(
      /tensor 'w' in safetensors file 'incons\.safetensors': data_offsets \[0, 20\] span 20 bytes but shape \[2, 3\] x F32 needs 24/,
    );
  });

  it('unsupported dtype names the dtype, the tensor and the supported list', async () => {
    const f = rawFile({ 'transformer.step': { dtype: 'Q4', shape: [1], data_offsets: [0, 8] } }, 8);
    expect(() => parseSafetensors(f, 'q4.safetensors')).toThrow(
      /tensor 'transformer\.step' in safetensors file 'q4\.safetensors' has unsupported dtype 'Q4' \(supported: F32, F16, BF16\)/,
    );
    // A stored integer type parses (buffers may be integers) but is refused as a parameter.
    const bytes = rewrite((ts) => ts.map((t) => (t.name === 'transformer.ln_f.bias' ? { ...t, dtype: 'I32' } : t)));
    await expect(load(bytes, 'i32.safetensors')).rejects.toThrow(
      /tensor 'transformer\.ln_f\.bias' in safetensors file 'i32\.safetensors' has dtype I32; parameters must be one of F32, F16, BF16/,
    );
  });

  it('overlapping data_offsets are refused, naming both tensors', async () => {
    const f = rawFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12);
    expect(() => parseSafetensors(f, 'ov.safetensors')).toThrow(/'ov\.safetensors': tensors 'a' \[0, 8\] and 'b' \[4, 12\] overlap/);
  });

  it('errors are CheckpointErrors', async () => {
    let err: unknown;
    try {
      parseSafetensors(new Uint8Array(3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).name).toBe('CheckpointError');
  });
});

describe('llm.c checkpoints', () => {
  const C = 64;

  it('write -> read round trip equals the HF-layout params (bit-exact)', async () => {
    const { config, params } = await loadInit();
    const bytes = writeLlmcCheckpoint(config, params);
    expect(bytes.length).toBe(LLMC_HEADER_BYTES + 136_960 * 4);
    const h = new Int32Array(bytes.buffer, 0, 8);
    expect(Array.from(h)).toEqual([20240326, 3, 64, 512, 2, 4, 64, 512]);
    expect(detectFormat(bytes)).toBe('llmc');
    const ck = await readLlmc(bytes, 'model.bin');
    expect(ck.version).toBe(3);
    expect(ck.filePaddedVocabSize).toBe(512);
    expect(ck.config).toEqual(TINY);
    expectBitEqual(params, ck.params);
  });

  it('stores the matmul weights transposed ([out, in]) in llm.c order', async () => {
    const { config, params } = await loadInit();
    const bytes = writeLlmcCheckpoint(config, params);
    const body = new Float32Array(bytes.buffer, LLMC_HEADER_BYTES);
    const L = 2;
    const V = 512;
    const T = 64;
    // Offsets (in floats) of each llm.c tensor.
    let off = 0;
    const at: Record<string, number> = {};
    for (const [k, n] of [
      ['wte', V * C], ['wpe', T * C], ['ln1w', L * C], ['ln1b', L * C], ['qkvw', L * 3 * C * C], ['qkvb', L * 3 * C],
      ['attprojw', L * C * C], ['attprojb', L * C], ['ln2w', L * C], ['ln2b', L * C], ['fcw', L * 4 * C * C],
      ['fcb', L * 4 * C], ['fcprojw', L * C * 4 * C], ['fcprojb', L * C], ['lnfw', C], ['lnfb', C],
    ] as [string, number][]) {
      at[k] = off;
      off += n;
    }
    expect(off).toBe(136_960);
    // [llm.c name, HF suffix, out, in]
    const mats: [string, string, number, number][] = [
      ['qkvw', 'attn.c_attn.weight', 3 * C, C],
      ['attprojw', 'attn.c_proj.weight', C, C],
      ['fcw', 'mlp.c_fc.weight', 4 * C, C],
      ['fcprojw', 'mlp.c_proj.weight', C, 4 * C],
    ];
    let checked = 0;
    for (const [ll, hf, out, inn] of mats) {
      for (let l = 0; l < L; l++) {
        const w = params.get(`h.${l}.${hf}`)!; // HF [in, out]
        const base = at[ll]! + l * out * inn;
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inn; i++) {
            if (body[base + o * inn + i] !== w[i * out + o]) throw new Error(`${ll}[${l}][${o},${i}] mismatch`);
            checked++;
          }
        }
      }
    }
    expect(checked).toBe(2 * (3 * C * C + C * C + 4 * C * C + 4 * C * C));
    // Non-matmul tensors are copied as-is.
    expect(body[at['ln2b']! + 1 * C + 5]).toBe(params.get('h.1.ln_2.bias')![5]);
    expect(body[at['qkvb']! + 3 * C + 100]).toBe(params.get('h.1.attn.c_attn.bias')![100]);
    expect(body[at['lnfw']! + 63]).toBe(params.get('ln_f.weight')![63]);
    expect(body[at['wpe']! + 7 * C + 3]).toBe(params.get('wpe.weight')![7 * C + 3]);
  });

  it('pads wte to Vp with zero rows and drops them when reading', async () => {
    const { config, params } = await loadInit();
    const bytes = writeLlmcCheckpoint(config, params, { paddedVocabSize: 576 });
    expect(bytes.length).toBe(LLMC_HEADER_BYTES + (136_960 + 64 * C) * 4);
    expect(new Int32Array(bytes.buffer, 0, 8)[7]).toBe(576);
    const body = new Float32Array(bytes.buffer, LLMC_HEADER_BYTES);
    expect(body.subarray(512 * C, 576 * C).every((v) => v === 0)).toBe(true);
    expect(body[576 * C]).toBe(params.get('wpe.weight')![0]);
    const ck = await readLlmc(bytes);
    expect(ck.filePaddedVocabSize).toBe(576);
    expect(ck.params.get('wte.weight')!.length).toBe(512 * C);
    expectBitEqual(params, ck.params);
  });

  it('reads version 5 (bf16) checkpoints', async () => {
    const { config, params } = await loadInit();
    const f32 = writeLlmcCheckpoint(config, params);
    const n = (f32.length - LLMC_HEADER_BYTES) / 4;
    const bf = new Uint8Array(LLMC_HEADER_BYTES + n * 2);
    bf.set(f32.subarray(0, LLMC_HEADER_BYTES));
    new DataView(bf.buffer).setInt32(4, 5, true);
    const src = new Uint32Array(f32.buffer, LLMC_HEADER_BYTES, n);
    const dst = new Uint16Array(bf.buffer, LLMC_HEADER_BYTES, n);
    for (let i = 0; i < n; i++) dst[i] = src[i]! >>> 16; // truncation: exact bf16 values
    const ck = await readLlmc(bf, 'bf16.bin');
    expect(ck.version).toBe(5);
    const w = params.get('h.0.mlp.c_fc.weight')!;
    const r = ck.params.get('h.0.mlp.c_fc.weight')!;
    expect(bits(r)).toEqual(bits(w).map((b) => (b & 0xffff0000) >>> 0));
    expect(r[0]).not.toBe(0);
  });

  it('reports bad magic, unsupported version and truncation clearly', async () => {
    const { config, params } = await loadInit();
    const good = writeLlmcCheckpoint(config, params);
    const bad = good.slice();
    new DataView(bad.buffer).setInt32(0, 1234, true);
    await expect(readLlmc(bad, 'x.bin')).rejects.toThrow(
      /llm\.c checkpoint 'x\.bin': bad magic number 1234, expected 20240326/,
    );
    new DataView(bad.buffer).setInt32(0, 20240328, true);
    await expect(readLlmc(bad, 'tok.bin')).rejects.toThrow(/bad magic number 20240328 \(that is the magic of an llm\.c tokenizer file\)/);
    const v4 = good.slice();
    new DataView(v4.buffer).setInt32(4, 4, true);
    await expect(readLlmc(v4, 'v4.bin')).rejects.toThrow(/'v4\.bin': unsupported version 4 \(supported: 3 = fp32, 5 = bf16\)/);
    await expect(readLlmc(good.subarray(0, good.length - 8), 'cut.bin')).rejects.toThrow(
      /'cut\.bin' is truncated: expected 548864 bytes \(1024-byte header \+ 136960 params x 4 bytes\), found 548856/,
    );
    await expect(readLlmc(good.subarray(0, 100), 'hdr.bin')).rejects.toThrow(
      /'hdr\.bin' is truncated: 100 bytes, expected at least the 1024-byte header/,
    );
  });

  it('readCheckpointBytes dispatches on the magic', async () => {
    const { config, params } = await loadInit();
    const a = await readCheckpointBytes(writeLlmcCheckpoint(config, params), { fileName: 'm.bin' });
    expect(a.format).toBe('llmc');
    const b = await readCheckpointBytes(initBytes, { fileName: 'init.safetensors' });
    expect(b.format).toBe('safetensors');
    expect(b.metadata['format']).toBe('pt');
    expectBitEqual(a.params, b.params);
    expect(detectFormat(new Uint8Array(16), 'weird.bin')).toBe('llmc');
    expect(detectFormat(new Uint8Array(16), 'weird.safetensors')).toBe('safetensors');
  });
});

describe('checkpoint files (node)', () => {
  it('reads the golden safetensors file', async () => {
    const ck = await readCheckpoint(INIT_PATH);
    expect(ck.format).toBe('safetensors');
    expect(ck.config).toEqual(TINY);
    expectBitEqual((await loadInit()).params, ck.params);
  });

  it('writes and reads both formats', async () => {
    const dir = tmp();
    const { config, params } = await loadInit();
    await writeCheckpoint(join(dir, 'sub', 'm.bin'), config, params);
    await writeCheckpoint(join(dir, 'sub', 'm.safetensors'), config, params, { metadata: { step: '10' } });
    expect(readdirSync(join(dir, 'sub')).sort()).toEqual(['m.bin', 'm.safetensors']);
    const a = await readCheckpoint(join(dir, 'sub', 'm.bin'));
    const b = await readCheckpoint(join(dir, 'sub', 'm.safetensors'));
    expect(a.format).toBe('llmc');
    expect(b.format).toBe('safetensors');
    expect(b.metadata['step']).toBe('10');
    expectBitEqual(params, a.params);
    expectBitEqual(params, b.params);
    await expect(writeCheckpoint(join(dir, 'x.bin'), config, params, { dtype: 'F16' })).rejects.toThrow(
      /llm\.c checkpoints are written as fp32 only, not F16/,
    );
  });

  it('a missing file is an error naming the path', async () => {
    const p = join(tmp(), 'nope.safetensors');
    await expect(readCheckpoint(p)).rejects.toThrow(new RegExp(`checkpoint file not found: ${p.replace(/[.]/g, '\\.')}`));
  });

  it('uses config.json beside a file whose metadata lacks the config', async () => {
    const dir = tmp();
    const p = join(dir, 'model.safetensors');
    writeFileSync(p, rewrite((ts) => ts, { format: 'pt' }));
    await expect(readCheckpoint(p)).rejects.toThrow(
      /no model config for .*model\.safetensors: .* gives no n_layer, n_head, n_embd, n_positions, vocab_size \(looked for config\.json/,
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ n_layer: 2, n_head: 4, n_embd: 64, n_positions: 64, vocab_size: 512 }));
    const ck = await readCheckpoint(p);
    expect(ck.config).toEqual(TINY);
    expectBitEqual((await loadInit()).params, ck.params);
    // An explicit configJsonPath must exist.
    await expect(readCheckpoint(p, { configJsonPath: join(dir, 'other.json') })).rejects.toThrow(/config\.json not found: .*other\.json/);
    mkdirSync(join(dir, 'alt'));
    writeFileSync(join(dir, 'alt', 'c.json'), JSON.stringify({ n_layer: 2, n_head: 4, n_embd: 64, n_ctx: 64, vocab_size: 512 }));
    expect((await readCheckpoint(p, { configJsonPath: join(dir, 'alt', 'c.json') })).config).toEqual(TINY);
  });

  it('writeFileAtomic replaces existing content and leaves no temp file', async () => {
    const dir = tmp();
    const p = join(dir, 'ckpt.safetensors');
    writeFileSync(p, 'old content that is longer than the new one');
    await writeFileAtomic(p, new Uint8Array([1, 2, 3, 4]));
    expect(Array.from(readFileSync(p))).toEqual([1, 2, 3, 4]);
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
    await writeFileAtomic(p, new Uint8Array([9]));
    expect(Array.from(readFileSync(p))).toEqual([9]);
    expect(readdirSync(dir)).toEqual(['ckpt.safetensors']);
  });

  it('writeFileAtomic into a missing directory fails cleanly', async () => {
    const dir = tmp();
    await expect(writeFileAtomic(join(dir, 'no', 'such', 'f.bin'), new Uint8Array(4))).rejects.toThrow(
      /cannot write .*f\.bin/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('large checkpoints are read tensor by tensor', () => {
  it('gives the same parameters as parsing the whole file, and names truncation', async () => {
    const file = join(__dirname, 'fixtures/gpt2-tiny/init.safetensors');
    const whole = await readCheckpointBytes(new Uint8Array(readFileSync(file)), { fileName: file });
    const streamed = await readCheckpoint(file);
    expect(streamed.config).toEqual(whole.config);
    expect([...streamed.params.keys()]).toEqual([...whole.params.keys()]);
    for (const [k, v] of whole.params) expect(Buffer.from(streamed.params.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    const cut = join(mkdtempSync(join(tmpdir(), 'mqg-stream-')), 'cut.safetensors');
    writeFileSync(cut, readFileSync(file).subarray(0, 300_000));
    await expect(readCheckpoint(cut)).rejects.toThrow(/cut\.safetensors.*truncated/);
  });
});
