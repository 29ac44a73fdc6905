// CPU cost of recording a step: one compute pass per dispatch against one per step.
import type { GPUContext } from '../../src/gpu/index';
import { gemm } from '../../src/kernels/matmul';
import { med } from './timing';
import type { BeforeAfter } from './types';

/**
 * CPU microseconds (process CPU time, which load on the machine inflates less than wall time) to
 * record one dispatch, over steps of `n` small GEMMs (as many dispatches as a `stepName` training
 * step): one compute pass per dispatch vs one per step. Measured up to the submit, while the GPU is
 * idle (the previous step was waited for), so the time is ours and Dawn's recording, not lavapipe's
 * execution. Leaves one pass per step, and the profiler as it found it.
 */
export async function recordingCost(gpu: GPUContext, n: number, rounds: number, stepName: string): Promise<BeforeAfter> {
  const a = gpu.tensor([64 * 64], gpu.precision, 'rec.a'), out = gpu.tensor([64 * 64], gpu.precision, 'rec.out');
  const us = { true: [] as number[], false: [] as number[] };
  const paused = gpu.profiler?.paused;
  if (gpu.profiler) gpu.profiler.paused = true; // "before" is a pass per dispatch without timestamps, as before this change
  for (let r = 0; r <= rounds; r++) {
    for (const per of [true, false]) {
      gpu.passPerDispatch = per;
      const s = gpu.step('record');
      const c0 = process.cpuUsage();
      for (let i = 0; i < n; i++) gemm(s, out, a, a, { M: 64, N: 64, K: 64, transB: i % 2 === 1 });
      const c = process.cpuUsage(c0); // before submit: from there on lavapipe's threads run the work in this process
      s.submit();
      await gpu.sync();
      if (r > 0) us[`${per}`].push((c.user + c.system) / n);
    }
  }
  gpu.passPerDispatch = false;
  if (gpu.profiler) gpu.profiler.paused = !!paused;
  a.buffer.destroy();
  out.buffer.destroy();
  return {
    change: `CPU to record one dispatch (a step of ${n} small GEMMs, as many dispatches as a ${stepName} training step): one compute pass per dispatch → one per step`,
    before: med(us.true), after: med(us.false), unit: 'µs CPU',
  };
}
