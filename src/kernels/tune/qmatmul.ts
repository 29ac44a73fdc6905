// Per-adapter choice of qgemm's tiling (quantized weights, qmatmul.ts), the counterpart of
// tuneMatmul: one choice per class of shapes, 'gemv' (M ≤ GEMV_MAX_M: decode) and 'tile' (more
// rows), each forward and transW (dx). Each class runs one representative shape of a 2.7B-class
// model's layer, cut so a run stays short, through the one candidate loop (candidates.ts): every
// candidate's output is checked against the class's default (itself tested against a float64
// reference), wrong or failing ones are rejected, the rest timed round-robin; the fastest is
// recorded in qgemmChoice (qmatmul.ts) beside matmul's choice.

import type { GPUContext } from '../../gpu/context';
import { GEMV_MAX_M, type QgemmClass, type QgemmVariant, defaultQgemmVariant, destroyQuantizedWeight, qgemm, qgemmChoice, qgemmVariantName, qgemmVariantProblem, setQgemmVariant, uploadQuantized } from '../qmatmul';
import { type QuantType, quantizeMatrix } from '../../util/ggml';
import { tuneAgainstReference, tuneValues } from './candidates';
import type { TuneRecord } from './store';

export interface TuneQgemmOptions {
  /** The quantization type the timed weight uses (default q4_0: the tilings' cost differs little by type). */
  type?: QuantType;
  /** Weight [K, N] timed (default 2560 × 2560: one 2.7B-model projection, ~30-60 ms a run on lavapipe). */
  K?: number;
  N?: number;
  /** Rows of the 'tile' class (default 64). */
  tileRows?: number;
  /** Candidates per class; default qgemmCandidates(gpu, class). */
  candidates?: (c: QgemmClass) => QgemmVariant[];
  force?: boolean;
  persist?: boolean;
  log?: (line: string) => void;
}

/** The tilings tried for a class: lanes per column group, columns per lane, rows per lane, split-K; the subgroup variant forward where the adapter has subgroups of 8+ lanes. */
export function qgemmCandidates(gpu: GPUContext, c: QgemmClass): QgemmVariant[] {
  const out: QgemmVariant[] = [];
  const tns = c.transW ? [8, 16, 32] : [4, 8, 16];
  if (c.kind === 'gemv') {
    for (const tn of tns) for (const split of [1, 4, 16]) for (const wx of [8, 32]) out.push({ kind: 'gemv', tm: 1, tn, wx, wy: 1, split });
  } else {
    for (const tn of c.transW ? [8, 16] : [4, 8]) for (const tm of [2, 4, 8]) for (const [wx, wy] of [[8, 2], [16, 8]] as const) out.push({ kind: 'tile', tm, tn, wx, wy, split: 1 });
  }
  // the subgroup variant (forward): rows per lane by class, 4-8 columns per lane, one or more subgroups per workgroup
  if (!c.transW) {
    for (const tm of c.kind === 'gemv' ? [1] : [8, 16]) for (const tn of [4, 8]) for (const wx of [16, 64]) out.push({ kind: 'sg', tm, tn, wx, wy: 1, split: 1 });
  }
  return out.filter((v) => !qgemmVariantProblem(gpu, v, c.transW));
}

/** Pick the fastest correct tiling per class on this adapter and record it (see the module header). */
export async function tuneQgemm(gpu: GPUContext, options: TuneQgemmOptions = {}): Promise<Record<string, TuneRecord<QgemmVariant>>> {
  const log = options.log ?? (() => {});
  const type = options.type ?? 'q4_0';
  const K = options.K ?? 2560, N = options.N ?? 2560;
  const w = uploadQuantized(gpu, quantizeMatrix(tuneValues(K * N, 11, 0.5), K, N, type), 'tune.qgemm.w');
  const results: Record<string, TuneRecord<QgemmVariant>> = {};
  const dt = gpu.precision;
  try {
    for (const kind of ['gemv', 'tile'] as const) {
      for (const transW of [false, true]) {
        const c: QgemmClass = { kind, transW };
        const name = `${kind}.${transW ? 'T' : 'N'}`;
        const recorded = qgemmChoice.record(gpu, c);
        if (recorded && !options.force) {
          results[name] = recorded;
          continue;
        }
        const M = kind === 'gemv' ? 1 : Math.max(GEMV_MAX_M + 1, options.tileRows ?? 64);
        const R = transW ? N : K, cols = transW ? K : N;
        const a = gpu.tensor([M * R], dt, 'tune.qgemm.a', tuneValues(M * R, 12));
        const out = gpu.tensor([M * cols], dt, 'tune.qgemm.out');
        try {
          const r = await tuneAgainstReference<QgemmVariant>({
            what: `qgemm tune ${name}`,
            reference: defaultQgemmVariant(gpu, c),
            candidates: options.candidates?.(c) ?? qgemmCandidates(gpu, c),
            name: qgemmVariantName,
            use: (v) => setQgemmVariant(gpu, v, transW),
            reset: () => {},
            run: (reps) => {
              const step = gpu.step('tune qgemm');
              for (let i = 0; i < reps; i++) qgemm(step, out, a, w, { M, transW });
              step.submit();
            },
            outputs: async () => ({ out: await gpu.download(out) }),
            // sums of R products in different orders; f16 output rounding
            atol: dt === 'f16' ? 2e-2 : 1e-4 * Math.sqrt(R), rtol: dt === 'f16' ? 2e-2 : 1e-4, targetMs: 100, log,
          }, () => gpu.sync());
          const record: TuneRecord<QgemmVariant> = { variant: r.best, timings: r.timings, rejected: r.rejected, shape: { M, K, N }, precision: `${dt} ${type}`, date: new Date().toISOString() };
          qgemmChoice.save(gpu, c, record, options.persist ?? true);
          results[name] = record;
          log(`qgemm tune ${name}: ${qgemmVariantName(r.best)}`);
        } finally {
          a.buffer.destroy();
          out.buffer.destroy();
        }
      }
    }
  } finally {
    setQgemmVariant(gpu, null);
    destroyQuantizedWeight(w);
  }
  return results;
}
