// The loader pipeline on the hf-biomedlm-tiny golden directories: a sharded safetensors HF
// directory and the same weights as sharded torch.save .bin files give identical parameters.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseSafetensors, paramShapes, toFloat32 } from '../../src/model/index';
import { readCheckpoint, resolveCheckpoint } from '../../src/node';

const GOLDEN = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny');
const present = existsSync(GOLDEN);
if (!present) console.warn(`skipping hf-biomedlm-tiny loader tests: ${GOLDEN} is absent`);

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

describe.skipIf(!present)('hf-biomedlm-tiny model directories', () => {
  it('model/ (sharded safetensors) reads every parameter with the config.json semantics', async () => {
    const ck = await readCheckpoint(path.join(GOLDEN, 'model'));
    expect(ck.format).toBe('safetensors');
    expect(ck.resolved.weightFiles.map((f) => path.basename(f))).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(ck.config).toMatchObject({ nLayer: 3, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 500, nInner: 256, scaleAttnByInverseLayerIdx: true, tieWordEmbeddings: true, activation: 'gelu_new', layerNormEpsilon: 1e-5 });
    expect([...ck.params.keys()]).toEqual(paramShapes(ck.config).map((p) => p.name));
    // Values equal the shard files' own bytes.
    for (const shard of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      const parsed = parseSafetensors(new Uint8Array(readFileSync(path.join(GOLDEN, 'model', shard))), shard);
      for (const [name, t] of parsed.tensors) expect(bits(ck.params.get(name.replace(/^transformer\./, ''))!), name).toEqual(bits(toFloat32(t)));
    }
  });

  it('model-bin/ (sharded torch.save) gives bit-identical parameters; its tied lm_head copy is dropped', async () => {
    const st = await readCheckpoint(path.join(GOLDEN, 'model'));
    const bin = await readCheckpoint(path.join(GOLDEN, 'model-bin'));
    expect(bin.format).toBe('torch');
    expect(bin.config).toEqual(st.config);
    expect([...bin.params.keys()]).toEqual([...st.params.keys()]);
    for (const [k, v] of st.params) expect(bits(bin.params.get(k)!), k).toEqual(bits(v));
  });

  it('reports no tokenizer for these directories, and the config.json it used', async () => {
    const r = await resolveCheckpoint(path.join(GOLDEN, 'model-bin'));
    expect(r.tokenizerPath).toBeUndefined();
    expect(r.configPath).toBe(path.join(GOLDEN, 'model-bin', 'config.json'));
    expect(r.index?.path).toBe(path.join(GOLDEN, 'model-bin', 'pytorch_model.bin.index.json'));
  });
});
