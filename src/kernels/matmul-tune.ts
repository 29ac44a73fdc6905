// Per-adapter choice of the GEMM variant (tiling, workgroup shape, subgroups or not).
//
// tuneMatmul checks each candidate against a CPU product on small odd shapes in all three layouts
// (a candidate that computes wrong, e.g. subgroups of an unexpected size, is dropped), then times
// it on representative shapes and keeps the fastest. The choice is filed under the adapter's
// description (matmulTuneKey), in memory and, where a store is registered (Node:
// matmul-tune.node.ts), on disk, so a software driver's choice never lands on a real GPU or the
// reverse. gemm uses the recorded choice for this adapter, else a default by adapter kind.

import type { GPUContext } from '../gpu/context';
import {
  DEFAULT_BCAST,
  DEFAULT_TILED,
  type MatmulTuneRecord,
  checkVariant,
  gemm,
  isSoftwareAdapter,
  matmulTuneRecord,
  recordMatmulTune,
  setMatmulVariant,
  subgroupSizes,
} from './matmul';
import { type MatmulVariant, variantName } from './matmul-wgsl';

export interface TuneMatmulOptions {
  /** Variants to try; default: a list for this kind of adapter. */
  candidates?: MatmulVariant[];
  /** Time again even if a choice is recorded for this adapter. */
  force?: boolean;
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Shapes to time, [M, N, K, transA, transB]; default TUNE_SHAPES. */
  shapes?: [number, number, number, boolean, boolean][];
  /** Progress lines (compiling a candidate takes seconds on a software adapter). */
  log?: (line: string) => void;
}

/** Shapes the candidates are timed on, [M, N, K, transA, transB]: a cube and GPT-2-like tall-skinny ones. */
export const TUNE_SHAPES: [number, number, number, boolean, boolean][] = [
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
  return out.filter((v) => {
    try {
      checkVariant(gpu, v);
      return true;
    } catch {
      return false;
    }
  });
}

/** Deterministic values in [-1, 1), exactly representable in f16. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 22) - 512) / 512;
  }
  return out;
}

/** True when the current variant computes the three layouts correctly on small odd shapes. */
async function verify(gpu: GPUContext): Promise<boolean> {
  const dt = gpu.precision;
  const M = 37, N = 45, K = 29;
  const a = values(M * K, 1), b = values(K * N, 2);
  const cases: [boolean, boolean][] = [[false, false], [false, true], [true, false]];
  const outs = cases.map(() => gpu.tensor([M * N], 'f32', 'tune.out'));
  const ta = gpu.tensor([M * K], dt, 'tune.a', a), tb = gpu.tensor([K * N], dt, 'tune.b', b);
  const step = gpu.step('tune verify');
  // the same numbers, read through each layout: transA reads a as [K,M], transB reads b as [N,K]
  cases.forEach(([transA, transB], i) => gemm(step, outs[i]!, ta, tb, { M, N, K, transA, transB }));
  step.submit();
  let ok = true;
  for (let c = 0; c < cases.length; c++) {
    const [transA, transB] = cases[c]!;
    const got = await gpu.download(outs[c]!);
    for (let m = 0; m < M && ok; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += (transA ? a[k * M + m]! : a[m * K + k]!) * (transB ? b[n * K + k]! : b[k * N + n]!);
        if (!(Math.abs(got[m * N + n]! - s) <= 1e-4 * (1 + Math.abs(s)))) {
          ok = false;
          break;
        }
      }
    }
  }
  for (const t of [...outs, ta, tb]) t.buffer.destroy();
  return ok;
}

type Shape = [number, number, number, boolean, boolean];

/** Buffers for the timing shapes, allocated once for all candidates. */
function shapeBuffers(gpu: GPUContext, shapes: Shape[]) {
  const dt = gpu.precision;
  return shapes.map(([M, N, K, transA, transB]) => ({
    M, N, K, transA, transB,
    a: gpu.tensor([M * K], dt, 'tune.a'),
    b: gpu.tensor([K * N], dt, 'tune.b'),
    out: gpu.tensor([M * N], dt, 'tune.out'),
  }));
}

/** Milliseconds per run of each shape with the current variant, timing `reps[i]` runs in one submit. */
async function timeShapes(gpu: GPUContext, bufs: ReturnType<typeof shapeBuffers>, reps: number[]): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < bufs.length; i++) {
    const s = bufs[i]!;
    const t0 = performance.now();
    const step = gpu.step('tune');
    for (let r = 0; r < reps[i]!; r++) gemm(step, s.out, s.a, s.b, { M: s.M, N: s.N, K: s.K, transA: s.transA, transB: s.transB });
    step.submit();
    await gpu.sync();
    out.push((performance.now() - t0) / reps[i]!);
  }
  return out;
}

/**
 * Pick the fastest correct GEMM variant for this adapter and record it (see the module header).
 * Returns the record; with a choice already recorded and no `force`, returns it without timing.
 * Candidates are timed round-robin, best of 3 rounds each, so a change in load while tuning (other
 * work on the same machine) does not favour whichever candidate ran first.
 */
export async function tuneMatmul(gpu: GPUContext, options: TuneMatmulOptions = {}): Promise<MatmulTuneRecord> {
  const log = options.log ?? (() => {});
  if (!options.force) {
    const rec = matmulTuneRecord(gpu);
    if (rec) return rec;
  }
  const bufs = shapeBuffers(gpu, options.shapes ?? TUNE_SHAPES);
  const live: { v: MatmulVariant; name: string; reps: number[]; best: number[] }[] = [];
  try {
    // verify, compile and size the repetitions (about 50 ms per shape) of each candidate
    for (const v of options.candidates ?? matmulCandidates(gpu)) {
      const name = variantName(v);
      try {
        checkVariant(gpu, v);
        setMatmulVariant(gpu, v);
        if (!(await verify(gpu))) {
          log(`matmul tune: ${name} computes wrong results here; skipped`);
          continue;
        }
        await timeShapes(gpu, bufs, bufs.map(() => 1)); // compiles
        const once = await timeShapes(gpu, bufs, bufs.map(() => 1));
        const reps = once.map((ms) => Math.max(1, Math.min(50, Math.round(50 / Math.max(ms, 0.01)))));
        live.push({ v, name, reps, best: once });
        log(`matmul tune: ${name} ready (${once.reduce((x, y) => x + y, 0).toFixed(2)} ms)`);
      } catch (e) {
        log(`matmul tune: ${name} failed: ${(e as Error).message}`);
      }
    }
    for (let round = 0; round < 3; round++) {
      for (const c of live) {
        setMatmulVariant(gpu, c.v);
        const ms = await timeShapes(gpu, bufs, c.reps);
        c.best = c.best.map((b, i) => Math.min(b, ms[i]!));
      }
    }
  } finally {
    setMatmulVariant(gpu, null);
    for (const s of bufs) for (const t of [s.a, s.b, s.out]) t.buffer.destroy();
  }
  if (!live.length) throw new Error(`tuneMatmul: no candidate variant ran correctly on ${gpu.adapterName}`);
  const timings: Record<string, number> = {};
  let best = live[0]!;
  for (const c of live) {
    const total = c.best.reduce((x, y) => x + y, 0);
    timings[c.name] = Math.round(total * 1000) / 1000;
    log(`matmul tune: ${c.name} ${total.toFixed(2)} ms`);
    if (total < timings[best.name]!) best = c;
  }
  const record: MatmulTuneRecord = { variant: best.v, timings, date: new Date().toISOString() };
  recordMatmulTune(gpu, record, options.persist ?? true);
  log(`matmul tune: chose ${best.name} for ${gpu.adapterName}`);
  return record;
}
