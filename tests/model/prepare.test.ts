// GPT2.prepare: allocates for (B, T) and runs the first-use tuning for this model on this adapter
// (once per context, with MQG_AUTOTUNE=1 under vitest); the training step itself never tunes.
import { afterAll, describe, expect, it } from 'vitest';
import { GPT2, createGPU, makeConfig } from '../../src/index';
import { matmulChoice, matmulVariant } from '../../src/kernels/matmul';
import { attentionChoice, attentionVariant } from '../../src/kernels/attention';
import { layernormChoice } from '../../src/kernels/layernorm';
import { crossEntropyChoice } from '../../src/kernels/classifier';
import { setTuneStore } from '../../src/kernels/tune/store';
import { getGPU } from '../helpers/gpu';
import { memoryTuneStore } from '../helpers/tune';

const config = makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 61 });
const autotune = process.env.MQG_AUTOTUNE;

afterAll(() => {
  if (autotune === undefined) delete process.env.MQG_AUTOTUNE;
  else process.env.MQG_AUTOTUNE = autotune;
  setTuneStore(undefined);
});

describe('GPT2.prepare', () => {
  it('checks the batch shape like allocate', async () => {
    const model = new GPT2(await getGPU('f32'), config);
    await expect(model.prepare(1, 17)).rejects.toThrow(/sequence length 17 exceeds the model's context 16/);
    model.destroy();
  });

  it('tunes what this adapter has no record of, once; the step does not tune', async () => {
    const gpu = await getGPU('f32');
    const { saved, saves } = memoryTuneStore();
    // matmul and attention recorded (their defaults, so nothing slow is timed); the row kernels not
    matmulChoice.save(gpu, undefined, { variant: matmulVariant(gpu) }, true);
    attentionChoice.save(gpu, 16, { variant: attentionVariant(gpu, 16) as never }, true);
    process.env.MQG_AUTOTUNE = '1';
    const model = new GPT2(gpu, config);
    model.initRandom(1);
    await model.prepare(2, 8);
    expect(saves()).toBe(4);
    expect(saved.has(layernormChoice.key(gpu, 32))).toBe(true);
    expect(saved.has(crossEntropyChoice.key(gpu, config.paddedVocabSize))).toBe(true);
    await model.prepare(2, 8); // once per context
    const x = Array.from({ length: 16 }, (_, i) => (i * 7) % 61);
    expect(Number.isFinite(await model.trainStep(x, x, 2, 8, { lr: 1e-3 }))).toBe(true);
    expect(saves()).toBe(4);
    model.destroy();
  });

  it('a training step on a fresh context, without prepare, tunes nothing', async () => {
    const gpu = await createGPU({ precision: 'f32' });
    const { saves } = memoryTuneStore();
    process.env.MQG_AUTOTUNE = '1';
    const model = new GPT2(gpu, config);
    model.initRandom(1);
    const x = Array.from({ length: 16 }, (_, i) => (i * 7) % 61);
    expect(Number.isFinite(await model.trainStep(x, x, 2, 8, { lr: 1e-3 }))).toBe(true);
    expect(saves()).toBe(0);
    model.destroy();
    gpu.destroy();
  });
});
