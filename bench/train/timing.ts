// The timers every experiment of bench/train.ts shares: medians, an n³ matmul of ours by wall clock,
// recordings compared by GPU timestamps round by round, training steps by wall clock.
import type { GPUContext, Precision, Step } from '../../src/gpu/index';
import { gemm } from '../../src/kernels/matmul';
import type { GPT2 } from '../../src/model/gpt2';
import type { GPT2Config } from '../../src/model/config';
import { randomBatch, trainingFlopsPerToken } from '../../src/train/profile';
import type { TrainRow } from './types';

/** The optimiser settings of every timed training step. */
export const BENCH_ADAM = { lr: 1e-4 };

export const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** GFLOP/s of one n³ gemm from its wall ms: `reps` in one submit, median of 3 after a warm-up. */
export async function ourMatmul(gpu: GPUContext, n: number, dtype: Precision): Promise<number> {
  const a = gpu.tensor([n * n], dtype, 'bench.a'), b = gpu.tensor([n * n], dtype, 'bench.b'), out = gpu.tensor([n * n], dtype, 'bench.out');
  const run = async (reps: number) => {
    const t0 = performance.now();
    const s = gpu.step('bench matmul');
    for (let i = 0; i < reps; i++) gemm(s, out, a, b, { M: n, N: n, K: n });
    s.submit();
    await gpu.sync();
    return (performance.now() - t0) / reps;
  };
  await run(1);
  const times = [await run(3), await run(3), await run(3)];
  for (const t of [a, b, out]) t.buffer.destroy();
  return (2 * n ** 3) / (med(times) * 1e6);
}

export type Recorder = (s: Step) => void;

/** Median GPU ms (timestamps) of each recording, the recordings interleaved round by round after a warm-up round. */
export async function interleavedGpuMs(gpu: GPUContext, records: Recorder[], rounds: number): Promise<number[]> {
  const ms = records.map(() => [] as number[]);
  for (let r = 0; r <= rounds; r++) {
    for (const [i, record] of records.entries()) {
      const s = gpu.step('bench');
      record(s);
      s.submit();
      await gpu.sync();
      const k = await gpu.profiler!.collect();
      if (r > 0) ms[i]!.push(k.reduce((x, y) => x + y.ms, 0));
    }
  }
  return ms.map(med);
}

/** The two recordings' median GPU ms over 6 interleaved rounds, as a before → after pair. */
export async function beforeAfterGpuMs(gpu: GPUContext, before: Recorder, after: Recorder): Promise<{ before: number; after: number }> {
  const [b, a] = await interleavedGpuMs(gpu, [before, after], 6);
  return { before: b!, after: a! };
}

export const numParams = (model: GPT2) => model.params.slots.reduce((n, s) => n + s.numel, 0);

/**
 * Median wall ms of `steps` training steps of `model` on random B×T batches (seeds seed0, seed0 + 1, ...),
 * the first `skip` steps left out (warm-up; the first tunes on first use). Each step reads the loss once.
 */
export async function medianStepMs(model: GPT2, B: number, T: number, o: { steps: number; skip: number; seed0: number }): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const b = randomBatch(model.config.vocabSize, B * T, o.seed0 + i);
    const t0 = performance.now();
    await model.trainStep(b.inputs, b.targets, B, T, BENCH_ADAM);
    if (i >= o.skip) ms.push(performance.now() - t0);
  }
  return med(ms);
}

/** A training row from the median ms per step; model FLOPs per token 6·N + 12·L·C·T. */
export function trainRow(config: GPT2Config, name: string, system: string, precision: string, B: number, T: number, params: number, ms: number): TrainRow {
  const tps = (B * T * 1000) / ms;
  return { config: name, system, precision, B, T, msPerStep: ms, tokensPerSecond: tps, gflops: (trainingFlopsPerToken(config, T, params) * tps) / 1e9 };
}
