// GELU forward/backward at the MLP's width (BT × 4C) and the residual add (BT × C), at mqg-tiny
// (BT=1024, C=128) and GPT-2 124M (BT=1024, C=768) shapes. Elementwise, so the ideal traffic is
// every input read once and the output written once: gelu forward 2 N, backward (in place, as the
// model calls it) 3 N, residual 3 N elements.
import type { BenchCase, BenchSuite } from './types';
import { geluBackward, geluForward } from '../../src/kernels/gelu';
import { residualForward } from '../../src/kernels/residual';
import { randn } from '../../tests/helpers/gpu';

export const suite: BenchSuite = (gpu) => {
  const dtype = gpu.precision;
  const s = dtype === 'f16' ? 2 : 4;
  const cases: BenchCase[] = [];
  for (const { label, BT, C } of [{ label: 'mqg-tiny', BT: 1024, C: 128 }, { label: 'gpt2-124M', BT: 1024, C: 768 }]) {
    const N = BT * 4 * C;
    const inp = gpu.tensor([N], dtype, `${label}.fch`, randn(N, 1, 3));
    const out = gpu.tensor([N], dtype, `${label}.fchGelu`);
    const dfch = gpu.tensor([N], dtype, `${label}.dfch`, randn(N, 2, 1));
    cases.push({
      name: `gelu forward ${dtype} ${label} N=BT*4C=${N}`,
      bytes: 2 * N * s,
      record: (step) => geluForward(step, out, inp, N),
    });
    // In place, as the model calls it. Repeating it shrinks dfch towards 0: same work.
    cases.push({
      name: `gelu backward in place ${dtype} ${label} N=BT*4C=${N}`,
      bytes: 3 * N * s,
      record: (step) => geluBackward(step, dfch, inp, dfch, N),
    });
    const M = BT * C;
    const a = gpu.tensor([M], dtype, `${label}.residual`, randn(M, 3, 1));
    const b = gpu.tensor([M], dtype, `${label}.attproj`, randn(M, 4, 1));
    const sum = gpu.tensor([M], dtype, `${label}.residual2`);
    cases.push({
      name: `residual forward ${dtype} ${label} N=BT*C=${M}`,
      bytes: 3 * M * s,
      record: (step) => residualForward(step, sum, a, b, M),
    });
  }
  return cases;
};
