// The optimizer step: Σg² (globalNormSquared) and AdamW with the f16 weight copy, at GPT-2 124M
// size where one binding can hold it, else at the largest f32 tensor one binding holds
// (32M elements under a 128 MiB limit).
// Ideal traffic per element: AdamW reads p, g, m, v (16 B) and writes p, m, v (12 B) plus the f16
// copy (2 B) and the decay-mask bit; the norm reads g (4 B).
import type { BenchCase, BenchSuite } from './types';
import { adamwUpdate, createAdamwHyper, createDecayMask, writeAdamwHyper } from '../../src/kernels/adamw';
import { globalNormSquared, reduceScratchSize } from '../../src/kernels/reduce';

const GPT2_124M_PARAMS = 124_475_904;

export const suite: BenchSuite = (gpu) => {
  const N = Math.min(GPT2_124M_PARAMS, Math.floor(gpu.limits.maxStorageBufferBindingSize! / 4));
  const params = gpu.tensor([N], 'f32', 'adamw.params');
  const grads = gpu.tensor([N], 'f32', 'adamw.grads');
  const m = gpu.tensor([N], 'f32', 'adamw.m');
  const v = gpu.tensor([N], 'f32', 'adamw.v');
  const lowp = gpu.tensor([N], 'f16', 'adamw.paramsLowp');
  // zero-filled buffers are a fine workload: the math is branch-free
  const mask = createDecayMask(gpu, [{ offset: 0, length: Math.floor(N / 2), decay: true }], N);
  const hyper = createAdamwHyper(gpu);
  writeAdamwHyper(gpu, hyper, { lr: 6e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, t: 10, gradClip: 1 });
  const normSq = gpu.tensor([1], 'f32', 'adamw.normSq');
  const scratch = gpu.tensor([reduceScratchSize(N)], 'f32', 'adamw.scratch');
  const M = `${(N / 1e6).toFixed(1)}M`;
  return [
    {
      name: `globalNormSquared f32 N=${M}`,
      bytes: N * 4,
      record: (step) => globalNormSquared(step, normSq, grads, N, scratch),
    },
    {
      name: `adamw f32 + f16 copy N=${M}`,
      bytes: N * (16 + 12 + 2) + N / 8,
      record: (step) => adamwUpdate(step, params, grads, m, v, lowp, mask, hyper, normSq, null, N),
    },
    {
      name: `adamw f32 N=${M}`,
      bytes: N * (16 + 12) + N / 8,
      record: (step) => adamwUpdate(step, params, grads, m, v, null, mask, hyper, normSq, null, N),
    },
  ];
};
