// Per-adapter choice of the GEMM variant (tiling, workgroup shape, subgroups or not).
//
// tuneMatmul runs the one candidate loop (candidates.ts): each candidate is checked against a CPU
// product in all three layouts, on a small odd shape (scalar loads) and an aligned one (vec4
// loads, the pipelines a model uses), a wrong one (e.g. subgroups of an unexpected size) is
// rejected, and the rest are timed on representative shapes, each weighted by how often a step
// runs it. The fastest is recorded in matmulChoice (matmul.ts) under tuneKey(gpu) (store.ts), in
// memory and in the registered store; gemm uses it, else a default by adapter kind.
//
// modelTuneShapes gives every distinct GEMM of a model's training step with its weight (so the
// choice minimises the step's GEMM time, not the time of its largest product), capped in size so
// one candidate takes about a second to time; autoTune (auto.ts) tunes on them.

import type { GPUContext } from '../../gpu/context';
import { isSoftwareAdapter } from '../../gpu/adapter';
import {
  DEFAULT_BCAST, DEFAULT_TILED, type MatmulTuneRecord, type MatmulTuneShape, gemm, matmulChoice, matmulVariantProblem, setMatmulVariant, subgroupSizes,
} from '../matmul';
import { type MatmulVariant, variantName } from '../matmul-wgsl';
import { tuneCandidates, tuneValues } from './candidates';

export interface TuneMatmulOptions {
  /** Variants to try; default: a list for this kind of adapter. */
  candidates?: MatmulVariant[];
  /** Time again even if a choice is recorded for this adapter. */
  force?: boolean;
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Shapes to time, [M, N, K, transA, transB, weight?]; default TUNE_SHAPES. */
  shapes?: MatmulTuneShape[];
  /** Progress lines (compiling a candidate takes seconds on a software adapter). */
  log?: (line: string) => void;
}

/** Shapes the candidates are timed on, [M, N, K, transA, transB]: a cube and GPT-2-like tall-skinny ones. */
export const TUNE_SHAPES: MatmulTuneShape[] = [
  [512, 512, 512, false, false],
  [1024, 128, 512, false, false], // mqg-tiny mlp.proj forward: tall and narrow
  [1024, 512, 128, false, true], // its dinp
  [512, 128, 1024, true, false], // its dweight: K = B·T
];

/** Candidates for this adapter: register-heavy subgroup variants for CPUs, workgroup tiling for GPUs. */
export function matmulCandidates(gpu: GPUContext): MatmulVariant[] {
  const out: MatmulVariant[] = [];
  if (isSoftwareAdapter(gpu)) {
    if (gpu.hasSubgroups) {
      out.push(
        DEFAULT_BCAST,
        { kind: 'bcast', tm: 16, tn: 4, wx: 8, wy: 8, subgroups: true },
        { kind: 'bcast', tm: 24, tn: 4, wx: 8, wy: 4, subgroups: true },
        { kind: 'bcast', tm: 16, tn: 8, wx: 8, wy: 4, subgroups: true },
        // 16-lane subgroups (lavapipe with 512-bit vectors, see gpu/node.ts): 16 lanes share the A block
        { kind: 'bcast', tm: 32, tn: 4, wx: 16, wy: 2, subgroups: true, g: 16 },
        { kind: 'bcast', tm: 48, tn: 4, wx: 16, wy: 2, subgroups: true, g: 16 },
        { kind: 'bcast', tm: 16, tn: 4, wx: 16, wy: 4, subgroups: true, g: 16 },
      );
    }
    out.push({ kind: 'bcast', tm: 8, tn: 4, wx: 8, wy: 8, subgroups: false }, DEFAULT_TILED);
  } else {
    out.push(
      DEFAULT_TILED,
      { kind: 'tiled', tm: 8, tn: 4, wx: 16, wy: 16, bk: 16 },
      { kind: 'tiled', tm: 8, tn: 8, wx: 16, wy: 16, bk: 8 },
      { kind: 'tiled', tm: 4, tn: 4, wx: 16, wy: 16, bk: 32 },
    );
    const { max } = subgroupSizes(gpu);
    if (gpu.hasSubgroups && max) {
      const wx = Math.max(max, 8);
      out.push({ kind: 'bcast', tm: 16, tn: 4, wx, wy: Math.max(1, 64 / wx), subgroups: true });
    }
  }
  return out.filter((v) => !matmulVariantProblem(gpu, v));
}

/**
 * Why the current variant computes wrong, or '' when it computes the three layouts right on a
 * small odd shape (scalar loads, f32 out) and an aligned one (vec4 loads, out in the context's
 * precision: the pipelines the timing and a model use).
 */
async function verify(gpu: GPUContext): Promise<string> {
  const dt = gpu.precision;
  const layouts: [boolean, boolean][] = [[false, false], [false, true], [true, false]];
  const shapes: [number, number, number, 'f16' | 'f32'][] = [[37, 45, 29, 'f32'], [40, 48, 32, dt]];
  const step = gpu.step('tune verify');
  const runs = shapes.flatMap(([M, N, K, outType], si) => {
    const a = tuneValues(M * K, 1 + si), b = tuneValues(K * N, 2 + si);
    const ta = gpu.tensor([M * K], dt, 'tune.a', a), tb = gpu.tensor([K * N], dt, 'tune.b', b);
    return layouts.map(([transA, transB]) => {
      const out = gpu.tensor([M * N], outType, 'tune.out');
      // the same numbers, read through each layout: transA reads a as [K,M], transB reads b as [N,K]
      gemm(step, out, ta, tb, { M, N, K, transA, transB });
      return { M, N, K, transA, transB, a, b, out, outType, inputs: [ta, tb] };
    });
  });
  step.submit();
  let why = '';
  for (const r of runs) {
    const got = await gpu.download(r.out);
    const rtol = r.outType === 'f16' ? 2e-3 : 1e-4;
    for (let m = 0; m < r.M && !why; m++) {
      for (let n = 0; n < r.N; n++) {
        let s = 0;
        for (let k = 0; k < r.K; k++) s += (r.transA ? r.a[k * r.M + m]! : r.a[m * r.K + k]!) * (r.transB ? r.b[n * r.K + k]! : r.b[k * r.N + n]!);
        if (!(Math.abs(got[m * r.N + n]! - s) <= rtol * (1 + Math.abs(s)))) {
          why = `${r.transA ? 'T' : 'N'}${r.transB ? 'T' : 'N'} ${r.M}x${r.N}x${r.K}: [${m},${n}] = ${got[m * r.N + n]} instead of ${s}`;
          break;
        }
      }
    }
  }
  for (const r of runs) for (const t of [r.out, ...r.inputs]) t.buffer.destroy();
  return why;
}

/**
 * Pick the fastest correct GEMM variant for this adapter and record it (see the module header).
 * Returns the record; with a choice already recorded and no `force`, returns it without timing.
 */
export async function tuneMatmul(gpu: GPUContext, options: TuneMatmulOptions = {}): Promise<MatmulTuneRecord> {
  const log = options.log ?? (() => {});
  const shapes = options.shapes ?? TUNE_SHAPES;
  const weights = shapes.map((s) => {
    const w = s[5] ?? 1;
    if (!(w > 0 && Number.isFinite(w))) throw new RangeError(`tuneMatmul: shape ${JSON.stringify(s)} has weight ${w}; a weight must be a positive finite number`);
    return w;
  });
  if (!options.force) {
    const rec = matmulChoice.record(gpu);
    if (rec) return rec;
  }
  const dt = gpu.precision;
  const bufs = shapes.map(([M, N, K, transA, transB]) => ({
    opts: { M, N, K, transA, transB },
    a: gpu.tensor([M * K], dt, 'tune.a'),
    b: gpu.tensor([K * N], dt, 'tune.b'),
    out: gpu.tensor([M * N], dt, 'tune.out'),
  }));
  let tuned;
  try {
    tuned = await tuneCandidates<MatmulVariant>({
      what: 'matmul tune',
      candidates: options.candidates ?? matmulCandidates(gpu),
      name: variantName,
      use: (v) => setMatmulVariant(gpu, v),
      check: () => verify(gpu),
      weights,
      run: (i, reps) => {
        const s = bufs[i]!;
        const step = gpu.step('tune');
        for (let r = 0; r < reps; r++) gemm(step, s.out, s.a, s.b, s.opts);
        step.submit();
      },
      targetMs: 50, maxReps: 50, log,
      failure: (why) => `tuneMatmul: no candidate variant ran correctly on ${gpu.adapterName} (${why})`,
    }, () => gpu.sync());
  } finally {
    for (const s of bufs) for (const t of [s.a, s.b, s.out]) t.buffer.destroy();
  }
  const record: MatmulTuneRecord = {
    variant: tuned.best, timings: tuned.timings, rejected: tuned.rejected, shapes, precision: dt, date: new Date().toISOString(),
  };
  matmulChoice.save(gpu, undefined, record, options.persist ?? true);
  log(`matmul tune: chose ${variantName(tuned.best)} for ${gpu.adapterName}`);
  return record;
}

// ------------------------------------------------------------------------------------------------
// Tuning on a model's shapes

/** What the tuners need of a GPT-2 config. */
export interface TuneModelShape {
  nEmbd: number;
  nInner?: number;
  paddedVocabSize: number;
  /** Blocks: how many times a step runs each block GEMM against the lm_head's once (default 1). */
  nLayer?: number;
  /** Attention heads: with it, autoTune also tunes the attention layout for head size nEmbd / nHead. */
  nHead?: number;
}

/** Largest product timed per shape (2·M·N·K flops): keeps one candidate's timing well under a second on a CPU adapter. */
const MAX_TUNE_FLOPS = 2 ** 31;

/**
 * Every distinct GEMM of one training step of this model at (B, T), [M, N, K, transA, transB,
 * weight]: per block the forward (NN) of c_attn, attn.c_proj, c_fc and mlp.c_proj, their dinp (NT)
 * and dweight (TN, K = B·T), and the lm_head's logits (NT), dx (NN) and dwte (TN); the weight is
 * the step's calls of that shape. Shapes over MAX_TUNE_FLOPS are cut along M or N (a tiling behaves
 * periodically along those) and their weight scaled by the flops cut, so the weighted sum stays an
 * estimate of the step's GEMM time.
 */
export function modelTuneShapes(config: TuneModelShape, B: number, T: number): MatmulTuneShape[] {
  const C = config.nEmbd, H = config.nInner ?? 4 * C, BT = B * T, V = config.paddedVocabSize, L = config.nLayer ?? 1;
  const raw: [number, number, number, boolean, boolean, number][] = [];
  for (const [inp, out] of [[C, 3 * C], [C, C], [C, H], [H, C]] as const) {
    raw.push([BT, out, inp, false, false, L], [BT, inp, out, false, true, L], [inp, out, BT, true, false, L]);
  }
  raw.push([BT, V, C, false, true, 1], [BT, C, V, false, false, 1], [V, C, BT, true, false, 1]);
  const merged = new Map<string, [number, number, number, boolean, boolean, number]>();
  for (const [m0, n0, k, ta, tb, calls] of raw) {
    let m = m0, n = n0;
    while (2 * m * n * k > MAX_TUNE_FLOPS && Math.max(m, n) > 64) {
      if (m >= n) m = Math.max(64, Math.ceil(m / 2 / 64) * 64);
      else n = Math.max(64, Math.ceil(n / 2 / 64) * 64);
    }
    const weight = (calls * m0 * n0) / (m * n);
    const key = `${m},${n},${k},${ta},${tb}`;
    const seen = merged.get(key);
    if (seen) seen[5] += weight;
    else merged.set(key, [m, n, k, ta, tb, weight]);
  }
  return [...merged.values()];
}
