// loadModel / saveModel through the GPU: every source streams into the parameter banks with the
// values the checkpoint holds (f16-rounded for an f16 model), and saves read back bit-exactly.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GPT2, loadModel, makeConfig } from '../../src/index';
import { loadModelAndSource, readCheckpoint, saveModel } from '../../src/node';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const GOLDEN = path.resolve(__dirname, '../../../shared/golden/hf-biomedlm-tiny');
const golden = existsSync(GOLDEN);
if (!golden) console.warn(`skipping loadModel on hf-biomedlm-tiny: ${GOLDEN} is absent`);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe.skipIf(!golden)('loadModel on hf-biomedlm-tiny', () => {
  it.each(PRECISIONS)('model/ and model-bin/ stream the stored values into the model (%s, inference-only)', async (precision) => {
    const gpu = await getGPU(precision);
    const ref = await readCheckpoint(path.join(GOLDEN, 'model'));
    for (const dir of ['model', 'model-bin']) {
      const { model, resolved } = await loadModelAndSource(gpu, path.join(GOLDEN, dir), { precision, training: false });
      expect(model.config).toEqual(ref.config);
      expect(resolved.dir).toBe(path.join(GOLDEN, dir));
      for (const [name, v] of ref.params) {
        const want = precision === 'f16' ? roundToF16(v) : v;
        expect(bits(await model.parameter(name)), `${dir} ${name}`).toEqual(bits(want));
      }
      model.params.destroy();
    }
  });
});

describe('saveModel', () => {
  it('a sharded model directory reloads bit-exactly (f32 training model, untied lm_head)', async () => {
    const gpu = await getGPU('f32');
    const config = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 90, tieWordEmbeddings: false });
    const model = new GPT2(gpu, config);
    model.initRandom(11);
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'mqg-savemodel-')), 'out');
    await saveModel(model, dir, { maxShardSize: 20_000 });
    expect(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length).toBeGreaterThan(2);
    const again = await loadModel(gpu, dir);
    expect(again.config).toEqual(config);
    const a = await model.weights(), b = await again.weights();
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect(a.has('lm_head.weight')).toBe(true);
    for (const [name, w] of a) expect(bits(b.get(name)!), name).toEqual(bits(w));
  });
});
