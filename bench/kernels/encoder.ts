// Token + position embedding forward and deterministic backward at mqg-tiny (B=8, T=128, C=128,
// V=4096) and GPT-2 124M (B=1, T=1024, C=768, V=50304) shapes, random tokens.
// Ideal traffic: forward reads one wte row and one wpe row per position and writes out; backward
// reads dout once and read-modify-writes each distinct token's dwte row and the T dwpe rows (f32),
// plus the plan (positions, buckets: u32). The backward kernels read dout twice (once per pass).
import type { BenchCase, BenchSuite } from './types';
import { createEncoderBackwardPlan, encoderBackward, encoderForward } from '../../src/kernels/encoder';
import { randn } from '../../tests/helpers/gpu';

export const suite: BenchSuite = (gpu) => {
  const dtype = gpu.precision;
  const s = dtype === 'f16' ? 2 : 4;
  const cases: BenchCase[] = [];
  for (const { label, B, T, C, Vp } of [{ label: 'mqg-tiny', B: 8, T: 128, C: 128, Vp: 4096 }, { label: 'gpt2-124M', B: 1, T: 1024, C: 768, Vp: 50304 }]) {
    const BT = B * T;
    const ids = Int32Array.from(randn(BT, 5, 1), (x) => Math.floor(((x + 1) / 2) * Vp) % Vp);
    const distinct = new Set(ids).size;
    const inp = gpu.tensor([B, T], 'i32', `${label}.inp`, ids);
    const wte = gpu.tensor([Vp, C], dtype, `${label}.wte`, randn(Vp * C, 1, 0.02));
    const wpe = gpu.tensor([T, C], dtype, `${label}.wpe`, randn(T * C, 2, 0.01));
    const out = gpu.tensor([B, T, C], dtype, `${label}.encoded`);
    const dout = gpu.tensor([B, T, C], dtype, `${label}.dout`, randn(BT * C, 3, 1e-3));
    const dwte = gpu.tensor([Vp, C], 'f32', `${label}.dwte`);
    const dwpe = gpu.tensor([T, C], 'f32', `${label}.dwpe`);
    const plan = createEncoderBackwardPlan(gpu, BT, Vp);
    plan.update(ids);
    cases.push({
      name: `encoder forward ${dtype} ${label} B=${B} T=${T} C=${C}`,
      bytes: s * (2 * BT * C + T * C) + 4 * BT,
      record: (step) => encoderForward(step, out, inp, wte, wpe, B, T, C),
    });
    cases.push({
      name: `encoder backward ${dtype} ${label} B=${B} T=${T} C=${C} (${distinct} distinct tokens)`,
      bytes: s * BT * C + 8 * (distinct + T) * C + 4 * (2 * BT + distinct + 1),
      record: (step) => encoderBackward(step, dwte, dwpe, dout, plan, B, T, C),
    });
  }
  return cases;
};
