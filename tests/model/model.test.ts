// Model-level behaviour beyond the golden data: checkpoint round trips through the GPU, generation
// with the KV cache against full recomputation, memory accounting and bad input.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPT2, generate, loadModel, makeConfig } from '../../src/index';
import { saveModel } from '../../src/node';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const tiny = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 48, vocabSize: 101 });

describe('GPT-2 model', () => {
  it('saves and reloads f32 weights bit-exactly', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, tiny);
    model.initRandom(7);
    const dir = mkdtempSync(join(tmpdir(), 'mqg-model-'));
    const path = join(dir, 'm.safetensors');
    await saveModel(model, path);
    const again = await loadModel(gpu, path);
    expect(again.config).toEqual(tiny);
    const a = await model.weights(), b = await again.weights();
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, w] of a) expect(Buffer.from(b.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    expect(a.get('wte.weight')!.length).toBe(101 * 32); // padding rows (vocab 101 -> 128) never show
    expect(readFileSync(path).length).toBeGreaterThan(a.size * 8);
  });

  it.each(PRECISIONS)('greedy generation with the KV cache equals full recomputation (%s)', async (precision) => {
    const gpu = await getGPU(precision);
    const model = new GPT2(gpu, tiny, { precision });
    model.initRandom(11);
    // A few training steps on a repeating pattern make the greedy continuation non-trivial.
    const seq = Array.from({ length: 33 }, (_, i) => [5, 17, 42, 8, 99, 3][i % 6]!);
    for (let i = 0; i < 30; i++) await model.trainStep(seq.slice(0, 32), seq.slice(1, 33), 1, 32, { lr: 3e-3 });
    const prompt = [5, 17, 42];
    const cached = await generate(model, prompt, { maxNewTokens: 20, temperature: 0 });
    const full: number[] = [];
    const ctx = [...prompt];
    for (let i = 0; i < 20; i++) {
      await model.forward(ctx, null, 1, ctx.length);
      const logits = await model.logits();
      const last = logits.subarray((ctx.length - 1) * 101, ctx.length * 101);
      let best = 0;
      for (let v = 1; v < 101; v++) if (last[v]! > last[best]!) best = v;
      full.push(best);
      ctx.push(best);
    }
    expect(cached).toEqual(full);
    expect(cached.slice(0, 6)).toEqual([8, 99, 3, 5, 17, 42]); // it learned the pattern
  });

  it('samples reproducibly with a seed, and differently with another', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, tiny);
    model.initRandom(3);
    const a = await generate(model, [1, 2], { maxNewTokens: 12, temperature: 1, topK: 20, seed: 5 });
    const b = await generate(model, [1, 2], { maxNewTokens: 12, temperature: 1, topK: 20, seed: 5 });
    const c = await generate(model, [1, 2], { maxNewTokens: 12, temperature: 1, topK: 20, seed: 6 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.every((t) => t >= 0 && t < 101)).toBe(true);
  });

  it.each(PRECISIONS)('builds an inference-only model: same outputs, no optimiser memory (%s)', async (precision) => {
    const gpu = await getGPU(precision);
    const trained = new GPT2(gpu, tiny, { precision });
    trained.initRandom(5);
    const w = await trained.weights();
    const inf = new GPT2(gpu, tiny, { precision, training: false });
    inf.loadWeights(w);
    const seq = Array.from({ length: 24 }, (_, i) => (i * 7) % 101);
    const a = await trained.forward(seq.slice(0, 12), seq.slice(12), 1, 12);
    const b = await inf.forward(seq.slice(0, 12), seq.slice(12), 1, 12);
    expect(b).toBe(a);
    expect(inf.memoryReport().gradients).toBe(0);
    expect(inf.memoryReport().optimizer).toBe(0);
    expect(inf.memoryReport().parameters).toBe(trained.params.totalNumel * (precision === 'f16' ? 2 : 4));
    expect(() => inf.backward()).toThrow(/backward\(\) needs gradients and optimiser state, but the model was built with training: false/);
    await expect(inf.trainStep(seq.slice(0, 12), seq.slice(12), 1, 12, { lr: 1e-3 })).rejects.toThrow(/training: false/);
    expect(await generate(inf, [1, 2, 3], { maxNewTokens: 5, temperature: 0 })).toEqual(await generate(trained, [1, 2, 3], { maxNewTokens: 5, temperature: 0 }));
  });

  it.skipIf(!PRECISIONS.includes('f16'))('f16: an overflowing loss scale skips the step, keeps the weights and halves the scale', async () => {
    const gpu = await getGPU('f16');
    const model = new GPT2(gpu, tiny, { precision: 'f16' });
    model.initRandom(9);
    const seq = Array.from({ length: 33 }, (_, i) => (i * 13) % 101);
    const before = await model.weights();
    // 2^24 times dlogits overflows f16 (max 65504) in the activation gradients: the norm is inf.
    model.setLossScale({ initScale: 2 ** 24, growthInterval: 2 });
    await model.trainStep(seq.slice(0, 32), seq.slice(1), 1, 32, { lr: 1e-2 });
    let st = await model.lossScaleState();
    expect(st).toMatchObject({ scale: 2 ** 23, goodSteps: 0, skipped: true });
    const after = await model.weights();
    for (const [k, v] of before) expect(Buffer.from(after.get(k)!.buffer).equals(Buffer.from(v.buffer)), k).toBe(true);
    // A sane scale trains, and doubles after growthInterval clean steps.
    model.setLossScale({ initScale: 256, growthInterval: 2 });
    await model.trainStep(seq.slice(0, 32), seq.slice(1), 1, 32, { lr: 1e-2 });
    await model.trainStep(seq.slice(0, 32), seq.slice(1), 1, 32, { lr: 1e-2 });
    st = await model.lossScaleState();
    expect(st).toMatchObject({ scale: 512, goodSteps: 0, skipped: false });
    expect((await model.weights()).get('h.0.mlp.c_fc.weight')).not.toEqual(before.get('h.0.mlp.c_fc.weight'));
  });

  it('rejects token ids outside the vocabulary, naming the id and position', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, tiny);
    await expect(model.forward([1, 2, 101, 3], [1, 2, 3, 4], 1, 4)).rejects.toThrow(/token id 101 at position 2 .*\[0, 101\)/);
    await expect(generate(model, [1, -4], { maxNewTokens: 1 })).rejects.toThrow(/prompt token id -4 at position 1/);
    await expect(model.forward([1, 2], [1, 2], 1, 49)).rejects.toThrow(/sequence length 49 exceeds the model's context 48/);
  });

  it('reports memory by category and refuses a configuration over the budget before allocating', async () => {
    const gpu = await getGPU('f32');
    const model = new GPT2(gpu, tiny);
    model.allocate(2, 16);
    const r = model.memoryReport();
    const n = model.params.totalNumel;
    expect(r.parameters).toBe(n * 4);
    expect(r.gradients).toBe(n * 4);
    expect(r.optimizer).toBe(n * 8);
    expect(r.activations).toBeGreaterThan(0);
    expect(r.total).toBe(r.parameters! + r.gradients! + r.optimizer! + r.activations! + r.activationGradients!);
    expect(() => new GPT2(gpu, makeConfig({ nLayer: 12, nHead: 12, nEmbd: 768, nPositions: 1024, vocabSize: 50257 }), { maxMemoryBytes: 2 ** 30 }))
      .toThrow(/parameters and optimiser state need 1\d{3}\.\d MiB, over the 1024\.0 MiB allowed/);
  });
});
