// The part of the run with GPU timestamps on (one compute pass per dispatch): where our step's GPU
// time goes, then the kernel-level before/afters, timed by timestamps.
import type { GPUContext } from '../../src/gpu/index';
import { profileTrainStep } from '../../src/train/profile';
import { fusedGeluBackward, fusedResidualLayernorm } from './fusions';
import { attentionLayouts, rowLayouts } from './layouts';
import { recordingCost } from './recording';
import type { Tiny } from './tiny';
import type { BeforeAfter, TrainRow } from './types';

/** One profiled step of each of our models: its three largest kernels onto its row of `train`; returns the step's dispatch count. */
async function topKernels(gpu: GPUContext, tiny: Tiny, train: TrainRow[]): Promise<number> {
  let dispatches = 0;
  for (const { precision, model } of tiny.ours) {
    const prof = await profileTrainStep(gpu, model, tiny.B, tiny.T, { warmup: 1, steps: 1 });
    const row = train.find((r) => r.system === 'mqg-webgpu' && r.precision === precision)!;
    row.topKernels = prof.rows.slice(0, 3).map((r) => `${r.name} ${(100 * r.share).toFixed(0)}%`).join(', ');
    dispatches = prof.rows.reduce((n, r) => n + r.calls, 0);
  }
  return dispatches;
}

/**
 * Top kernels onto our training rows, then the fused passes, the tuned layouts and the recording cost
 * (last: it leaves one pass per step); the before/afters in the order the table lists them.
 */
export async function profiledSection(gpu: GPUContext, tiny: Tiny, train: TrainRow[]): Promise<BeforeAfter[]> {
  gpu.passPerDispatch = true;
  gpu.profiler!.paused = false;
  const dispatches = await topKernels(gpu, tiny, train);
  const gelu = await fusedGeluBackward(gpu);
  const residualLn = await fusedResidualLayernorm(gpu);
  const attention = await attentionLayouts(gpu);
  const rows = await rowLayouts(gpu, tiny.B * tiny.T, tiny.shape.nEmbd, tiny.config.paddedVocabSize);
  const recording = await recordingCost(gpu, dispatches, 12, tiny.name);
  gpu.profiler!.paused = true;
  gpu.passPerDispatch = false;
  return [recording, gelu, residualLn, ...(attention ? [attention] : []), ...(rows ? [rows] : [])];
}
