// Per-adapter choice of the row kernels' layouts, the counterpart of tuneMatmul and tuneAttention:
// layernorm's lanes × rows per workgroup (forward with the residual add, and backward), keyed by
// the channel count C, and the cross-entropy's threads per row, keyed by the padded row length Vp.
//
// Every adapter has a choice here (the kernels are portable; only the best layout differs: few
// lanes per row on CPU adapters, where a barrier costs about as much as 64 invocations' arithmetic,
// a warp per row on a GPU). Each candidate runs the model's row shapes (rows cut so one run stays
// short) in the one candidate loop (candidates.ts): its outputs are checked against the default
// layout's (itself tested against a float64 reference), wrong or failing ones are rejected, and the
// rest are timed round-robin; the fastest is recorded in layernormChoice / crossEntropyChoice
// (layernorm.ts, classifier.ts) beside matmul's choice.

import type { GPUContext } from '../../gpu/context';
import { CROSS_ENTROPY_WORKGROUPS, crossEntropyChoice, crossEntropyForwardBackward, defaultCrossEntropyWorkgroup, setCrossEntropyWorkgroup } from '../classifier';
import {
  DEFAULT_LAYERNORM_LAYOUT,
  type LayernormLayout,
  createLayernormScratch,
  layernormBackward,
  layernormCandidates,
  layernormChoice,
  layernormLayoutName,
  residualLayernormForward,
  setLayernormLayout,
} from '../layernorm';
import { tuneAgainstReference, tuneValues } from './candidates';
import type { TuneRecord } from './store';

export interface RowShape {
  /** Rows: B·T of a step. */
  BT: number;
  /** Channels of the layernorms. */
  C: number;
  /** Logits per row, padded (the model's paddedVocabSize). */
  Vp: number;
}

export interface TuneRowsOptions {
  /** Layernorm layouts to try; default layernormCandidates(gpu). */
  layernormCandidates?: LayernormLayout[];
  /** Cross-entropy threads per row to try; default CROSS_ENTROPY_WORKGROUPS. */
  crossEntropyCandidates?: number[];
  /** Time again even if a choice is recorded. */
  force?: boolean;
  /** Write the choices to the registered store (default true). */
  persist?: boolean;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

export interface RowTuneResult {
  layernorm: TuneRecord<LayernormLayout>;
  crossEntropy: TuneRecord<number>;
}

/** Elements of one layernorm tuning run (rows × C) and of one cross-entropy run (rows × Vp): a few ms each on lavapipe. */
const MAX_LAYERNORM_ELEMENTS = 2 ** 20;
const MAX_LOGITS = 2 ** 22;

/** The rows timed: the step's, cut so one run stays short (at least 64, and never more than the step has). */
export function rowTuneShape(s: RowShape): { layernormRows: number; logitRows: number } {
  const cut = (limit: number, width: number) => Math.min(s.BT, Math.max(64, Math.floor(limit / width)));
  return { layernormRows: cut(MAX_LAYERNORM_ELEMENTS, s.C), logitRows: cut(MAX_LOGITS, s.Vp) };
}

/** The recorded row-kernel choices for this shape, when both exist. */
export function rowTuneRecords(gpu: GPUContext, s: Pick<RowShape, 'C' | 'Vp'>): RowTuneResult | undefined {
  const layernorm = layernormChoice.record(gpu, s.C);
  const crossEntropy = crossEntropyChoice.record(gpu, s.Vp);
  return layernorm && crossEntropy ? { layernorm, crossEntropy } : undefined;
}

/**
 * Pick the fastest correct layernorm layout and cross-entropy workgroup for this shape on this
 * adapter and record them (see the module header). With both recorded and no `force`, returns them
 * without timing.
 */
export async function tuneRowKernels(gpu: GPUContext, shape: RowShape, options: TuneRowsOptions = {}): Promise<RowTuneResult> {
  const log = options.log ?? (() => {});
  const persist = options.persist ?? true;
  if (!options.force) {
    const recorded = rowTuneRecords(gpu, shape);
    if (recorded) return recorded;
  }
  const { layernormRows, logitRows } = rowTuneShape(shape);
  const dt = gpu.precision;
  const date = new Date().toISOString();
  // f16: outputs are rounded to f16 storage, and layouts sum in different orders
  const [atol, rtol] = dt === 'f16' ? [2e-2, 2e-2] : [1e-5, 1e-4];
  const sync = () => gpu.sync();

  // layernorm: the model's two calls with its dtypes (an f32 residual stream and addend, storage-dtype
  // parameters, gradients and output), the residual add + layernorm forward and the backward
  const BT = layernormRows, C = shape.C;
  const t = (n: number, dtype: 'f16' | 'f32', label: string, data?: Float32Array) => gpu.tensor([n], dtype, `tune.${label}`, data);
  const dinp0 = tuneValues(BT * C, 5, 0.5), dparam0 = new Float32Array(C);
  const ln = {
    inp: t(BT * C, 'f32', 'inp', tuneValues(BT * C, 1, 1.5)), addend: t(BT * C, 'f32', 'addend', tuneValues(BT * C, 2)),
    res: t(BT * C, 'f32', 'res'), out: t(BT * C, dt, 'out'), mean: t(BT, 'f32', 'mean'), rstd: t(BT, 'f32', 'rstd'),
    weight: t(C, dt, 'weight', tuneValues(C, 3)), bias: t(C, dt, 'bias', tuneValues(C, 4, 0.5)),
    dout: t(BT * C, dt, 'dout', tuneValues(BT * C, 6)), dinp: t(BT * C, 'f32', 'dinp', dinp0), dinpCopy: t(BT * C, dt, 'dinp_copy'),
    dweight: t(C, 'f32', 'dweight'), dbias: t(C, 'f32', 'dbias'), scratch: createLayernormScratch(gpu, BT, C),
  };
  const V = shape.Vp, R = logitRows;
  const logits0 = tuneValues(R * V, 7, 4);
  const ce = {
    losses: t(R, 'f32', 'losses'), logits: t(R * V, dt, 'logits', logits0), scale: t(1, 'f32', 'scale', new Float32Array([1])),
    targets: gpu.tensor([R], 'i32', 'tune.targets', Int32Array.from({ length: R }, (_, i) => (i * 7919) % V)),
  };
  try {
    log(`rows tune: layernorm on ${BT}×${C}, cross-entropy on ${R}×${V}`);
    const lnResult = await tuneAgainstReference<LayernormLayout>({
      what: 'layernorm tune',
      reference: DEFAULT_LAYERNORM_LAYOUT,
      candidates: options.layernormCandidates ?? layernormCandidates(gpu),
      name: layernormLayoutName,
      use: (v) => setLayernormLayout(gpu, v),
      reset: () => {
        gpu.upload(ln.dinp, dinp0);
        gpu.upload(ln.dweight, dparam0);
        gpu.upload(ln.dbias, dparam0);
      },
      run: (reps) => {
        const step = gpu.step('tune layernorm');
        for (let r = 0; r < reps; r++) {
          residualLayernormForward(step, ln.res, ln.out, ln.mean, ln.rstd, ln.inp, ln.addend, ln.weight, ln.bias, BT, C);
          layernormBackward(step, ln.dinp, ln.dweight, ln.dbias, ln.scratch, ln.dout, ln.res, ln.weight, ln.mean, ln.rstd, BT, C, ln.dinpCopy);
        }
        step.submit();
      },
      outputs: async () => ({
        out: await gpu.download(ln.out), rstd: await gpu.download(ln.rstd), dinp: await gpu.download(ln.dinp), dweight: await gpu.download(ln.dweight),
      }),
      atol, rtol, targetMs: 100, log,
    }, sync);
    const ceResult = await tuneAgainstReference<number>({
      what: 'cross-entropy tune',
      reference: defaultCrossEntropyWorkgroup(V),
      candidates: options.crossEntropyCandidates ?? [...CROSS_ENTROPY_WORKGROUPS],
      name: (wg) => `wg${wg}`,
      use: (wg) => setCrossEntropyWorkgroup(gpu, wg),
      reset: () => gpu.upload(ce.logits, logits0),
      run: (reps) => {
        const step = gpu.step('tune cross-entropy');
        // the backward writes dlogits over the logits: later reps see other values, the same work
        for (let r = 0; r < reps; r++) crossEntropyForwardBackward(step, ce.losses, ce.logits, ce.targets, ce.scale, R, V, V);
        step.submit();
      },
      outputs: async () => ({ losses: await gpu.download(ce.losses), dlogits: await gpu.download(ce.logits) }),
      atol, rtol, targetMs: 100, log,
    }, sync);
    const layernorm: TuneRecord<LayernormLayout> = { variant: lnResult.best, timings: lnResult.timings, rejected: lnResult.rejected, shape: { BT, C }, precision: dt, date };
    const crossEntropy: TuneRecord<number> = { variant: ceResult.best, timings: ceResult.timings, rejected: ceResult.rejected, shape: { BT: R, Vp: V }, precision: dt, date };
    layernormChoice.save(gpu, C, layernorm, persist);
    crossEntropyChoice.save(gpu, V, crossEntropy, persist);
    log(`rows tune: chose layernorm ${layernormLayoutName(layernorm.variant)} for C=${C}, cross-entropy wg${crossEntropy.variant} for Vp=${V}`);
    return { layernorm, crossEntropy };
  } finally {
    for (const x of [...Object.values(ln), ...Object.values(ce)]) x.buffer.destroy();
  }
}
