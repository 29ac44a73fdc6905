// Dropout in training steps (model/dropout.ts): a training step's loss and every gradient against the
// float64 reference drawing the same Philox masks (embd, resid, attn), f32 and f16; forward()
// (evaluation) never drops; rates 0 record nothing and equal the model without dropout, bit for bit;
// masks differ between steps and micro-batches and are a function of (seed, step, micro-batch)
// alone; activation checkpointing (full and LoRA with lora_dropout) gives the same losses and
// gradients bit for bit; exported optimiser state resumes bit for bit with dropout on.
import { describe, expect, it } from 'vitest';
import { GPT2, makeConfig } from '../../src/index';
import type { LoraConfig } from '../../src/model/peft';
import { dropoutStreamKey } from '../../src/util/philox';
import { PRECISIONS, getGPU } from '../helpers/gpu';
import { patternRows } from '../helpers/rows';
import { gpt2Ref, randomParams } from '../reference/gpt2';

const config = makeConfig({ nLayer: 2, nHead: 2, nEmbd: 32, nPositions: 16, vocabSize: 61 });
const RATES = { embd: 0.1, resid: 0.2, attn: 0.3 };
const OPT = { lr: 1e-2, weightDecay: 0.1, gradClip: 1 };

const rows = (B: number, T: number, seed: number) => patternRows(B, T, seed, config.vocabSize);

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe.each(PRECISIONS)('dropout in training steps (%s)', (precision) => {
  const f16 = precision === 'f16';
  const params = randomParams(config, 5);
  const w = new Map([...params].map(([k, v]) => [k, Float32Array.from(v)]));
  const w64 = new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));
  const B = 2, T = 9; // T not a tile multiple

  it('a training step: loss and every gradient as the reference with the same masks (seed 77, step 0, micro-batch 0)', async () => {
    const gpu = await getGPU(precision);
    const { inputs, targets } = rows(B, T, 1);
    const ref = gpt2Ref(config, w64, inputs, targets, B, T, true, { rates: RATES, key0: dropoutStreamKey(77, 0, 0) });
    const plain = gpt2Ref(config, w64, inputs, targets, B, T, true);
    expect(Math.abs(ref.loss - plain.loss)).toBeGreaterThan(1e-3); // the masks matter
    const model = new GPT2(gpu, config, { precision, dropout: { ...RATES, seed: 77 } });
    try {
      model.loadWeights(w);
      const loss = await model.microStep(inputs, targets, B, T, { first: true, gradAccum: 1 });
      expect(Math.abs(loss - ref.loss)).toBeLessThan(f16 ? 2e-2 : 1e-5);
      for (const { name } of model.params.slots) {
        const g = await model.gradient(name), r = ref.grads.get(name)!;
        expect(maxAbsDiff(g, r) / Math.max(1e-6, maxAbs(r)), name).toBeLessThan(f16 ? 6e-2 : 1e-4);
      }
      // evaluation never drops: forward() is the reference without dropout
      expect(Math.abs((await model.forward(inputs, targets, B, T)) - plain.loss)).toBeLessThan(f16 ? 2e-2 : 1e-5);
    } finally {
      model.destroy();
    }
  });

  it('rates 0 train bit for bit as a model without dropout', async () => {
    const gpu = await getGPU(precision);
    const run = async (dropout?: object) => {
      const m = new GPT2(gpu, config, { precision, dropout });
      m.loadWeights(w);
      const losses: number[] = [];
      for (let s = 0; s < 2; s++) { const x = rows(B, T, s); losses.push(await m.trainStep(x.inputs, x.targets, B, T, OPT)); }
      const g = await m.gradient('h.1.attn.c_attn.weight');
      m.destroy();
      return { losses, g };
    };
    const a = await run(), b = await run({ embd: 0, resid: 0, attn: 0, seed: 3 });
    expect(b.losses).toEqual(a.losses);
    expect(same(a.g, b.g)).toBe(true);
  });

  it('masks differ between steps and micro-batches, and depend on (seed, step, micro-batch) alone', async () => {
    const gpu = await getGPU(precision);
    const { inputs, targets } = rows(B, T, 2);
    const losses = async (seed: number) => {
      const m = new GPT2(gpu, config, { precision, dropout: { ...RATES, seed } });
      m.loadWeights(w);
      // lr 0 leaves the weights as they are: only the masks change the loss
      const out: number[] = [];
      for (let s = 0; s < 2; s++) {
        out.push(await m.microStep(inputs, targets, B, T, { first: true, gradAccum: 2 }));
        out.push(await m.microStep(inputs, targets, B, T, { first: false, gradAccum: 2, update: { lr: 0 } }));
      }
      m.destroy();
      return out;
    };
    const a = await losses(1), b = await losses(1), c = await losses(2);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBe(4); // step 0 and 1, micro-batch 0 and 1: four masks
    expect(c).not.toEqual(a);
  });

  it('activation checkpointing gives the same losses and gradients, bit for bit (full, and LoRA with lora_dropout)', async () => {
    const gpu = await getGPU(precision);
    const lora: LoraConfig = { r: 3, loraAlpha: 6, targetModules: ['c_attn', 'c_fc', 'mlp.c_proj'], loraDropout: 0.2, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' };
    for (const mode of ['full', 'lora'] as const) {
      const run = async (checkpointActivations: boolean) => {
        const m = new GPT2(gpu, config, { precision, checkpointActivations, dropout: { ...RATES, seed: 9 }, lora: mode === 'lora' ? lora : undefined });
        m.loadWeights(w);
        if (m.lora) m.lora.initRandom(4);
        const out: number[] = [];
        for (let s = 0; s < 3; s++) { const x = rows(B, T, 10 + s); out.push(await m.trainStep(x.inputs, x.targets, B, T, OPT)); }
        const grads = await Promise.all(m.trainable.slots.map((s) => m.gradient(s.name)));
        m.destroy();
        return { out, grads };
      };
      const plain = await run(false), ckpt = await run(true);
      expect(ckpt.out, mode).toEqual(plain.out);
      ckpt.grads.forEach((g, i) => expect(same(g, plain.grads[i]!), `${mode} gradient ${i}`).toBe(true));
    }
  });

  it('exported optimiser state resumes bit for bit with dropout on', async () => {
    const gpu = await getGPU(precision);
    const batches = [1, 2, 3, 4].map((s) => rows(B, T, s));
    const make = () => new GPT2(gpu, config, { precision, dropout: { ...RATES, seed: 5 } });
    const a = make(), b = make();
    try {
      a.initRandom(4);
      if (f16) a.setLossScale({ initScale: 512, growthInterval: 2 });
      for (const x of batches.slice(0, 2)) await a.trainStep(x.inputs, x.targets, B, T, OPT);
      const state = await a.exportOptimizerState();
      b.loadWeights(await a.weights());
      b.importOptimizerState(state.t, new Map(state.tensors.map((t) => [t.name, t])));
      for (const x of batches.slice(2)) {
        expect(await b.trainStep(x.inputs, x.targets, B, T, OPT)).toBe(await a.trainStep(x.inputs, x.targets, B, T, OPT));
      }
      const wa = await a.weights(), wb = await b.weights();
      for (const [name, x] of wa) expect(same(wb.get(name)!, x), name).toBe(true);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('refuses a rate outside [0, 1)', async () => {
    const gpu = await getGPU(precision);
    expect(() => new GPT2(gpu, config, { precision, dropout: { attn: 1 } })).toThrow(/attn_pdrop must be in \[0, 1\)/);
    expect(() => new GPT2(gpu, config, { precision, dropout: { embd: -0.1 } })).toThrow(/embd_pdrop/);
  });
});
