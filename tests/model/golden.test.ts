// The whole model against llm.c's CPU fp32 trainer (tests/fixtures/gpt2-tiny, copied from
// ../shared/golden/gpt2-tiny), driven through the public API, with the tolerances of its README.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GPT2, loadModel } from '../../src/index';
import { parseSafetensors, toFloat32, canonicalName } from '../../src/model/index';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const dir = join(__dirname, '../fixtures/gpt2-tiny');
const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8'));
const batch = JSON.parse(readFileSync(join(dir, 'batch.json'), 'utf8'));
const B: number = batch.B, T: number = batch.T;
const inputs = (batch.inputs as number[][]).flat();
const targets = (batch.targets as number[][]).flat();

function tensors(file: string): Map<string, Float32Array> {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(join(dir, file))), file);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of parsed.tensors) out.set(name, toFloat32(t));
  return out;
}

const relL2 = (a: Float32Array, b: Float32Array) => {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  return Math.sqrt(num / den);
};

const C = expected.config?.n_embd ?? 64;
/** Elements of c_attn.bias in the key slice [C, 2C): gradient is zero in exact arithmetic (README). */
const isKeyBias = (name: string, i: number) => name.endsWith('attn.c_attn.bias') && i >= C && i < 2 * C;

const TOL = {
  f32: { loss: 1e-4, logits: 1e-4, grad: 1e-4, norm: 1e-4, losses: 1e-4 },
  f16: { loss: 2e-3, logits: 1e-2, grad: 2e-2, norm: 1e-2, losses: 1e-2 },
} as const;

const CASES = [
  ['f32', 'one parameter bank'],
  ['f16', 'one parameter bank'],
  ['f32', 'parameters split over several banks'],
] as const;

describe.each(CASES.filter(([p]) => PRECISIONS.includes(p)))('GPT-2 tiny vs llm.c golden data (%s, %s)', (precision, banks) => {
  const tol = TOL[precision];
  const split = banks !== 'one parameter bank';
  let model: GPT2;
  const losses: number[] = [];
  let grads: Map<string, Float32Array>;
  let logits: Float32Array;
  let after1: Map<string, Float32Array>;

  beforeAll(async () => {
    const gpu = await getGPU(precision);
    // Splitting: banks of at most 20,000 elements (wte, 32,768, gets one of its own): the global
    // gradient norm and AdamW then run per bank.
    model = await loadModel(gpu, join(dir, 'init.safetensors'), { precision, maxBankElements: split ? 20_000 : undefined });
    if (split) expect(model.params.banks.length).toBeGreaterThan(5);
    if (precision === 'f16') model.setLossScale({ initScale: 1024, growthInterval: 1000 });
    // llm.c's procedure: forward (record loss), zero grads, backward, AdamW (t = step + 1).
    for (let step = 0; step < 10; step++) {
      losses.push(await model.forward(inputs, targets, B, T));
      if (step === 0) logits = await model.logits();
      model.zeroGrad();
      model.backward();
      if (step === 0) {
        grads = new Map();
        for (const s of model.params.slots) grads.set(s.name, await model.gradient(`transformer.${s.name}`));
      }
      model.update({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
      if (step === 0) after1 = await model.weights();
    }
    losses.push(await model.forward(inputs, targets, B, T));
  });

  it('step-0 loss', () => {
    expect(Math.abs(losses[0]! - expected.losses[0])).toBeLessThanOrEqual(tol.loss);
  });

  it('step-0 logits', () => {
    const ref = tensors('logits0.safetensors').get('logits')!;
    expect(logits.length).toBe(ref.length);
    let max = 0;
    for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(logits[i]! - ref[i]!));
    expect(max).toBeLessThanOrEqual(tol.logits);
  });

  it('every parameter gradient (relative L2) and the gradient norms', () => {
    const ref = tensors('grads.safetensors');
    expect(grads.size).toBe(ref.size);
    const bad: string[] = [];
    for (const [hfName, g] of ref) {
      const name = canonicalName(hfName);
      const mine = grads.get(name)!;
      const e = relL2(mine, g);
      if (!(e <= tol.grad)) bad.push(`${name}: ${e.toExponential(2)}`);
      const norm = Math.hypot(...mine);
      const refNorm = expected.grad_l2_norms[hfName];
      if (!(Math.abs(norm - refNorm) <= tol.norm * refNorm)) bad.push(`${name} norm ${norm} vs ${refNorm}`);
    }
    expect(bad).toEqual([]);
  });

  it('the ten-step losses', () => {
    const diffs = losses.map((l, i) => Math.abs(l - expected.losses[i]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(tol.losses);
    expect(losses[10]!).toBeLessThan(losses[0]! - 1); // training moved: 6.25 -> 4.92 in the reference
  });

  it.skipIf(precision === 'f16')('after1 and after10 weights elementwise (key-bias slice excluded)', async () => {
    for (const [file, mine, allWithin] of [
      // measured worst 3.1e-6 for both (the golden README: a handful of elements may differ by about 1e-5)
      ['after1.safetensors', after1, 1e-4],
      ['after10.safetensors', await model.weights(), 1e-4],
    ] as const) {
      let total = 0, within = 0, worst = 0;
      for (const [hfName, ref] of tensors(file)) {
        const name = canonicalName(hfName);
        const w = mine.get(name)!;
        for (let i = 0; i < ref.length; i++) {
          if (isKeyBias(name, i)) continue;
          const d = Math.abs(w[i]! - ref[i]!);
          total++;
          if (d <= 1e-5) within++;
          worst = Math.max(worst, d);
        }
      }
      expect(within / total, file).toBeGreaterThanOrEqual(0.999);
      expect(worst, file).toBeLessThanOrEqual(allWithin);
    }
  });
});
