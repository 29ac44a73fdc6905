// Saving: a single safetensors file or a Hugging Face model directory (sharded with an index),
// written tensor by tensor and atomically, read back bit-exactly with its config.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { makeConfig, paramShapes, parseSafetensors, readCheckpointBytes, serializeSafetensors, type GPT2Config } from '../../src/model/index';
import { readCheckpoint, writeCheckpoint } from '../../src/node';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'mqg-save-'));
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Every field away from its default, untied lm_head included. */
const UNTIED: GPT2Config = makeConfig({
  nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 8, vocabSize: 70, nInner: 24, layerNormEpsilon: 1e-6, activation: 'gelu',
  scaleAttnByInverseLayerIdx: true, tieWordEmbeddings: false, reorderAndUpcastAttn: true,
});

function randomParams(c: GPT2Config, seed = 1): Map<string, Float32Array> {
  let s = seed;
  const out = new Map<string, Float32Array>();
  for (const { name, shape } of paramShapes(c)) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = (((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5) * 0.1;
    out.set(name, a);
  }
  return out;
}

function expectSame(a: Map<string, Float32Array>, b: Map<string, Float32Array>) {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, v] of a) expect(bits(b.get(k)!), k).toEqual(bits(v));
}

describe('saving checkpoints', () => {
  it('a model directory: config.json transformers reads, model.safetensors, untied lm_head as its own tensor', async () => {
    const dir = path.join(tmp(), 'out');
    const params = randomParams(UNTIED);
    await writeCheckpoint(dir, UNTIED, params, { metadata: { step: '3' } });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    const json = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(json).toMatchObject({ architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_inner: 24, tie_word_embeddings: false, scale_attn_by_inverse_layer_idx: true, torch_dtype: 'float32' });
    const back = await readCheckpoint(dir);
    expect(back.config).toEqual(UNTIED);
    expect(back.metadata.step).toBe('3');
    expect([...back.params.keys()].at(-1)).toBe('lm_head.weight');
    expectSame(params, back.params);
  });

  it('sharded: shards of at most maxShardSize bytes and model.safetensors.index.json; a later single save removes them', async () => {
    const dir = path.join(tmp(), 'out');
    const params = randomParams(UNTIED, 7);
    await writeCheckpoint(dir, UNTIED, params, { maxShardSize: 8000 });
    const files = readdirSync(dir).sort();
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThan(2);
    expect(files).toEqual(['config.json', ...shards, 'model.safetensors.index.json'].sort());
    const index = JSON.parse(readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe([...params.values()].reduce((a, v) => a + v.byteLength, 0));
    expect(index.weight_map['lm_head.weight']).toBe(shards.at(-1));
    expect(index.weight_map['transformer.wte.weight']).toBe(shards[0]);
    for (const s of shards) {
      const size = readFileSync(path.join(dir, s)).length;
      expect(size).toBeLessThan(8000 + 4000); // one tensor may exceed the limit on its own; here none does
    }
    const back = await readCheckpoint(dir);
    expect(back.config).toEqual(UNTIED);
    expectSame(params, back.params);
    // Overwrite with one file: no stale shards or index remain for the directory loader to pick.
    const again = randomParams(UNTIED, 9);
    await writeCheckpoint(dir, UNTIED, again);
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    expectSame(again, (await readCheckpoint(dir)).params);
  });

  it('F16 and BF16 directories say so in config.json and read back within rounding', async () => {
    const c = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 8, nPositions: 4, vocabSize: 10 });
    const params = randomParams(c, 3);
    for (const [dtype, torch, tol] of [['F16', 'float16', 2 ** -11], ['BF16', 'bfloat16', 2 ** -8]] as const) {
      const dir = path.join(tmp(), dtype);
      await writeCheckpoint(dir, c, params, { dtype });
      expect(JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).toBe(torch);
      const back = await readCheckpoint(dir);
      for (const [k, v] of params) {
        const w = back.params.get(k)!;
        for (let i = 0; i < v.length; i++) expect(Math.abs(w[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * tol + 2 ** -24);
      }
    }
  });

  it('refuses an llm.c file for a config it cannot represent', async () => {
    await expect(writeCheckpoint(path.join(tmp(), 'm.bin'), UNTIED, randomParams(UNTIED))).rejects.toThrow(
      /an llm\.c checkpoint stores stock GPT-2 only; this config sets nInner = 24, layerNormEpsilon = 0\.000001, activation = gelu, scaleAttnByInverseLayerIdx = true, tieWordEmbeddings = false, reorderAndUpcastAttn = true: save as safetensors/,
    );
  });

  it('refuses sharding into a file path, and leaves no temp files', async () => {
    const d = tmp();
    const c = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 8, nPositions: 4, vocabSize: 10 });
    await expect(writeCheckpoint(path.join(d, 'm.safetensors'), c, randomParams(c), { maxShardSize: 100 })).rejects.toThrow(
      /m\.safetensors: sharding \(maxShardSize\) writes a model directory; give a directory path/,
    );
    await writeCheckpoint(path.join(d, 'm.safetensors'), c, randomParams(c));
    expect(readdirSync(d)).toEqual(['m.safetensors']);
    expect(existsSync(path.join(d, 'config.json'))).toBe(false);
  });

  it('an untied config needs lm_head.weight; a tied config with a different stored lm_head is refused', async () => {
    const d = path.join(tmp(), 'x');
    const params = randomParams(UNTIED);
    await writeCheckpoint(d, UNTIED, params);
    // The same file read with a tied config: its lm_head differs from wte.
    const tiedJson = { ...JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8')), tie_word_embeddings: true };
    const alt = path.join(tmp(), 'tied.json');
    (await import('node:fs')).writeFileSync(alt, JSON.stringify(tiedJson));
    await expect(readCheckpoint(path.join(d, 'model.safetensors'), { configJsonPath: alt })).rejects.toThrow(/says tie_word_embeddings = true but .* says false/);
    const tied = makeConfig({ ...UNTIED, tieWordEmbeddings: true });
    const t = path.join(tmp(), 't');
    const p2 = new Map(params);
    p2.delete('lm_head.weight');
    await writeCheckpoint(t, tied, p2);
    // Without a config in its metadata, a config.json saying untied needs the tensor.
    const parsed = parseSafetensors(readFileSync(path.join(t, 'model.safetensors')));
    const bare = serializeSafetensors([...parsed.tensors].map(([name, x]) => ({ name, dtype: x.dtype, shape: x.shape, data: x.data })), { format: 'pt' });
    await expect(readCheckpointBytes(bare, { fileName: 'n.safetensors', configJson: { ...tiedJson, tie_word_embeddings: false } })).rejects.toThrow(
      /'n\.safetensors' is missing tensor 'lm_head\.weight' \(expected shape \[70, 16\]\) \(config\.json sets tie_word_embeddings: false/,
    );
  });
});

describe('mqg convert', () => {
  it('parses --max-shard-size like HF (decimal units, *iB binary)', async () => {
    const { parseSize } = await import('../../src/cli/convert');
    expect(parseSize('5GB')).toBe(5e9);
    expect(parseSize('500MB')).toBe(5e8);
    expect(parseSize('2GiB')).toBe(2 ** 31);
    expect(parseSize('12345')).toBe(12345);
    expect(() => parseSize('5 parsecs')).toThrow(/--max-shard-size must be a size like 5GB, 500MB or a byte count; got "5 parsecs"/);
  });

  const golden = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny/model-bin');
  if (!existsSync(golden)) console.warn(`skipping the convert test: ${golden} is absent`);
  it.skipIf(!existsSync(golden))('converts a sharded torch checkpoint into sharded safetensors, bit-exactly', async () => {
    const { convertMain } = await import('../../src/cli/convert');
    const out = path.join(tmp(), 'st');
    const log = console.log;
    console.log = () => undefined;
    try {
      await convertMain(['--checkpoint', golden, '--out', out, '--max-shard-size', '300KB']);
    } finally {
      console.log = log;
    }
    expect(readdirSync(out).filter((f) => f.endsWith('.safetensors')).length).toBe(3);
    const a = await readCheckpoint(golden), b = await readCheckpoint(out);
    expect(b.config).toEqual(a.config);
    expectSame(a.params, b.params);
  });
});
