// Layernorm forward and backward at mqg-tiny (BT=1024, C=128) and GPT-2 124M (BT=1024, C=768) shapes.
// Ideal traffic: forward reads inp and writes out (plus weight, bias, mean, rstd); backward reads
// dout, inp and dinp and writes dinp (plus weight, mean, rstd, and dweight/dbias read-modify-write).
// The kernels re-read each row once more from cache; scratch (blocks × 2C f32) is not counted.
import type { BenchCase, BenchSuite } from './types';
import { layernormBackward, layernormBackwardScratchSize, layernormForward } from '../../src/kernels/layernorm';
import { randn } from '../../tests/helpers/gpu';

export const suite: BenchSuite = (gpu) => {
  const dtype = gpu.precision;
  const s = dtype === 'f16' ? 2 : 4;
  const cases: BenchCase[] = [];
  for (const { label, BT, C } of [{ label: 'mqg-tiny', BT: 1024, C: 128 }, { label: 'gpt2-124M', BT: 1024, C: 768 }]) {
    const t = (shape: number[], dt: 'f16' | 'f32', name: string, scale = 1) =>
      gpu.tensor(shape, dt, `${label}.${name}`, randn(shape.reduce((a, b) => a * b, 1), name.length * 7 + C, scale));
    const inp = t([BT, C], dtype, 'inp', 3);
    const weight = t([C], dtype, 'weight');
    const bias = t([C], dtype, 'bias');
    const out = gpu.tensor([BT, C], dtype, `${label}.out`);
    const mean = gpu.tensor([BT], 'f32', `${label}.mean`);
    const rstd = gpu.tensor([BT], 'f32', `${label}.rstd`, new Float32Array(BT).fill(1));
    const dout = t([BT, C], dtype, 'dout', 1e-3);
    const dinp = gpu.tensor([BT, C], dtype, `${label}.dinp`);
    const dweight = gpu.tensor([C], 'f32', `${label}.dweight`);
    const dbias = gpu.tensor([C], 'f32', `${label}.dbias`);
    const scratch = gpu.tensor([layernormBackwardScratchSize(BT, C)], 'f32', `${label}.scratch`);
    cases.push({
      name: `layernorm forward ${dtype} ${label} BT=${BT} C=${C}`,
      bytes: s * (2 * BT * C + 2 * C) + 8 * BT,
      record: (step) => layernormForward(step, out, mean, rstd, inp, weight, bias, BT, C),
    });
    cases.push({
      name: `layernorm backward ${dtype} ${label} BT=${BT} C=${C}`,
      bytes: s * (4 * BT * C + C) + 8 * BT + 16 * C,
      record: (step) => layernormBackward(step, dinp, dweight, dbias, scratch, dout, inp, weight, mean, rstd, BT, C),
    });
  }
  return cases;
};
