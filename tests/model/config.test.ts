// Every GPT2Config field that changes the computation, GPU model against the float64 CPU reference
// (tests/reference/gpt2.ts): logits, loss and every parameter gradient, f32 and f16; the reference's
// backward against finite differences; KV-cache generation against the reference's greedy choice.
// Small shapes: T and the vocab are not tile multiples, n_inner is not 4C.
import { describe, expect, it } from 'vitest';
import { GPT2, generate } from '../../src/index';
import { type GPT2Config, type GPT2ConfigInit, makeConfig } from '../../src/model/config';
import { roundToF16 } from '../../src/util/f16';
import { PRECISIONS, getGPU } from '../helpers/gpu';
import { gpt2Ref, randomParams } from '../reference/gpt2';

const SIZES = { nLayer: 2, nHead: 2, nEmbd: 16, nPositions: 16, vocabSize: 37 } as const;

/** Each case changes one field (the last two several at once, as BioMedLM's config does). */
const CASES: [string, Partial<GPT2ConfigInit>][] = [
  ['stock GPT-2', {}],
  ['scale_attn_by_inverse_layer_idx', { scaleAttnByInverseLayerIdx: true }],
  ['scale_attn_weights false', { scaleAttnWeights: false }],
  ['gelu (erf)', { activation: 'gelu' }],
  ['gelu_pytorch_tanh', { activation: 'gelu_pytorch_tanh' }],
  ['relu', { activation: 'relu' }],
  ['silu', { activation: 'silu' }],
  ['n_inner 3C+8', { nInner: 3 * 16 + 8 }],
  ['n_inner 3C+5 (odd)', { nInner: 3 * 16 + 5 }],
  ['layer_norm_epsilon 1e-2', { layerNormEpsilon: 1e-2 }],
  ['untied lm_head', { tieWordEmbeddings: false }],
  ['BioMedLM-like: inverse idx, untied, erf, n_inner, eps, reorder', {
    scaleAttnByInverseLayerIdx: true, tieWordEmbeddings: false, activation: 'gelu', nInner: 40, layerNormEpsilon: 1e-3, reorderAndUpcastAttn: true,
  }],
];

const config = (extra: Partial<GPT2ConfigInit>): GPT2Config => makeConfig({ ...SIZES, ...extra });

function batch(B: number, T: number, V: number, seed: number): { inputs: number[]; targets: number[] } {
  const inputs: number[] = [], targets: number[] = [];
  for (let i = 0; i < B * T; i++) {
    inputs.push((i * 7 + seed * 13 + ((i * i) % 5)) % V);
    targets.push((i * 11 + seed * 3 + 1) % V);
  }
  return { inputs, targets };
}

/** |a - b| <= tol * max|b| over the tensor (the golden README's gradient rule). */
function relMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let maxAbs = 0, maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  return maxDiff / Math.max(maxAbs, 1e-30);
}

/** The weights the GPU gets, and the same values in float64 (rounded to f16 first for an f16 model: what it computes with). */
function gpuParams(p: Map<string, Float64Array>, f16 = false): { f32: Map<string, Float32Array>; f64: Map<string, Float64Array> } {
  const f32 = new Map<string, Float32Array>(), f64 = new Map<string, Float64Array>();
  for (const [k, v] of p) {
    const x = Float32Array.from(v);
    if (f16) roundToF16(x);
    f32.set(k, x);
    f64.set(k, Float64Array.from(x));
  }
  return { f32, f64 };
}

describe('GPT-2 float64 reference', () => {
  it.each(CASES)('backward matches finite differences: %s', (_name, extra) => {
    const c = makeConfig({ ...SIZES, nEmbd: 8, ...extra, nInner: extra.nInner ? extra.nInner - 24 : undefined });
    const params = randomParams(c, 3);
    const B = 2, T = 5;
    const { inputs, targets } = batch(B, T, c.vocabSize, 1);
    targets[3] = -1; // an ignored target: the mean is over the others
    const ref = gpt2Ref(c, params, inputs, targets, B, T);
    expect(ref.count).toBe(B * T - 1);
    const h = 1e-5;
    let worst = 0;
    for (const [name, g] of ref.grads) {
      const p = params.get(name)!;
      for (const i of [0, Math.floor(p.length / 3), p.length - 1]) {
        const x0 = p[i]!;
        p[i] = x0 + h;
        const up = gpt2Ref(c, params, inputs, targets, B, T, false).loss;
        p[i] = x0 - h;
        const down = gpt2Ref(c, params, inputs, targets, B, T, false).loss;
        p[i] = x0;
        const numeric = (up - down) / (2 * h);
        worst = Math.max(worst, Math.abs(numeric - g[i]!) / (1e-6 + Math.abs(numeric)));
        expect(Math.abs(numeric - g[i]!), `${name}[${i}]`).toBeLessThan(1e-7 + 1e-5 * Math.abs(numeric));
      }
    }
    expect(worst).toBeLessThan(1e-4);
  });

  it('each field changes the reference result by far more than the GPU tolerance (so a field the GPU ignored fails below)', () => {
    const B = 2, T = 7;
    const { inputs, targets } = batch(B, T, SIZES.vocabSize, 4);
    const base = config({});
    const ref0 = gpt2Ref(base, randomParams(base, 11), inputs, targets, B, T);
    for (const [name, extra] of CASES.slice(1)) {
      if (name === 'gelu_pytorch_tanh') continue; // the same function as gelu_new, by definition
      const c = config(extra);
      // Same seed: the same values wherever the shapes agree (an untied lm_head comes last, after them).
      const ref = gpt2Ref(c, randomParams(c, 11), inputs, targets, B, T);
      let worst = 0;
      for (const [n, g] of ref0.grads) if (ref.grads.get(n)?.length === g.length) worst = Math.max(worst, relMaxDiff(ref.grads.get(n)!, g));
      // 3x the f32 gradient tolerance at least (the erf and tanh GELUs differ by < 1e-5 in the loss, 5e-4 in the gradients).
      expect(worst, name).toBeGreaterThan(3e-4);
    }
  });
});

describe.each(PRECISIONS)('GPT-2 config semantics on the GPU (%s)', (precision) => {
  const f16 = precision === 'f16';
  const tol = f16 ? { logits: 5e-2, loss: 1e-2, grad: 5e-2 } : { logits: 1e-4, loss: 1e-5, grad: 1e-4 };

  it.each(CASES)('logits, loss and every gradient: %s', async (_name, extra) => {
    const gpu = await getGPU(precision);
    const c = config(extra);
    const { f32, f64 } = gpuParams(randomParams(c, 11), f16);
    const B = 2, T = 7;
    const { inputs, targets } = batch(B, T, c.vocabSize, 4);
    const ref = gpt2Ref(c, f64, inputs, targets, B, T);
    const model = new GPT2(gpu, c, { precision });
    try {
      model.loadWeights(f32);
      const loss = await model.forward(inputs, targets, B, T);
      expect(Math.abs(loss - ref.loss)).toBeLessThan(tol.loss);
      const logits = await model.logits();
      let maxDiff = 0;
      for (let i = 0; i < logits.length; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i]! - ref.logits[i]!));
      expect(maxDiff).toBeLessThan(tol.logits);
      model.zeroGrad();
      model.backward();
      const names = [...ref.grads.keys()];
      expect(names.includes('lm_head.weight')).toBe(!c.tieWordEmbeddings);
      for (const n of names) {
        const g = await model.gradient(n);
        expect(g.length, n).toBe(ref.grads.get(n)!.length);
        expect(relMaxDiff(g, ref.grads.get(n)!), n).toBeLessThan(tol.grad);
      }
    } finally {
      model.destroy();
    }
  });

  it('KV-cache generation follows the reference greedy choice (inverse idx, untied, erf, n_inner, eps)', async () => {
    const gpu = await getGPU(precision);
    const c = config(CASES[CASES.length - 1]![1]);
    const { f32, f64 } = gpuParams(randomParams(c, 21), f16);
    const model = new GPT2(gpu, c, { precision, training: false });
    try {
      model.loadWeights(f32);
      const prompt = [3, 1, 4];
      const got = await generate(model, prompt, { maxNewTokens: 6, temperature: 0 });
      const ctx = [...prompt];
      const want: number[] = [];
      const margins: number[] = [];
      for (let i = 0; i < 6; i++) {
        const { logits } = gpt2Ref(c, f64, ctx, ctx.map(() => 0), 1, ctx.length, false);
        const last = logits.subarray((ctx.length - 1) * c.vocabSize);
        const order = [...last.keys()].sort((a, b) => last[b]! - last[a]!);
        margins.push(last[order[0]!]! - last[order[1]!]!);
        want.push(order[0]!);
        ctx.push(order[0]!);
      }
      // Greedy picks are only comparable where the reference's top two differ by more than the error.
      const firstClose = margins.findIndex((m) => m < (f16 ? 0.1 : 1e-3));
      const n = firstClose < 0 ? 6 : firstClose + 1;
      expect(n).toBeGreaterThan(2);
      expect(got.slice(0, n)).toEqual(want.slice(0, n));
    } finally {
      model.destroy();
    }
  });
});
