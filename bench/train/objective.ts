// The matmul tuner's objective: every GEMM of the step weighted by its calls (now) against six of the
// step's shapes each counted once (before), compared on whole training steps.
import type { GPUContext } from '../../src/gpu/index';
import { matmulChoice, setMatmulVariant, type MatmulTuneShape as Shape } from '../../src/kernels/matmul';
import { tuneMatmul } from '../../src/kernels/tune/matmul';
import { variantName } from '../../src/kernels/matmul-wgsl';
import { med } from './timing';
import type { BeforeAfter } from './types';

/**
 * The matmul variant the tuner chose for this run against the one the previous objective picks (so
 * the lm_head's products outweighed 16 weight-gradient GEMMs): tuned again here without saving, then
 * both timed on whole training steps of `precision`, interleaved. The run's record is restored after.
 * Undefined under a forced variant or no tuning: nothing to compare.
 */
export async function tuningObjectives(
  gpu: GPUContext, m: { C: number; V: number; BT: number }, precision: string, trainStep: (i: number) => Promise<unknown>,
): Promise<BeforeAfter | undefined> {
  const current = matmulChoice.record(gpu);
  if (!current) return undefined;
  const { C, V, BT } = m, H = 4 * C;
  const earlier: Shape[] = [[BT, 3 * C, C, false, false], [BT, H, C, false, false], [BT, C, H, false, false], [BT, H, C, false, true], [C, H, BT, true, false], [BT, V, C, false, true]];
  let old;
  try {
    old = await tuneMatmul(gpu, { force: true, persist: false, shapes: earlier });
  } finally {
    matmulChoice.save(gpu, undefined, current, false);
  }
  const ms: [number[], number[]] = [[], []];
  for (let i = 0; i < 7; i++) {
    for (const [j, v] of [old.variant, current.variant].entries()) {
      setMatmulVariant(gpu, v);
      const t0 = performance.now();
      await trainStep(100 + i);
      if (i > 0) ms[j]!.push(performance.now() - t0);
    }
  }
  setMatmulVariant(gpu, null);
  const before = variantName(old.variant), after = variantName(current.variant);
  return {
    change: `mqg-tiny training step (${precision}): matmul variant the earlier tuning objective chose (six shapes, unweighted: ${before}) → the step-weighted one's (every GEMM × its calls: ${after})`,
    before: med(ms[0]), after: med(ms[1]), unit: 'ms',
  };
}
