// Per-adapter choice of the GEMM variant (tiling, workgroup shape, subgroups or not).
//
// tuneMatmul checks each candidate against a CPU product in all three layouts, on a small odd
// shape (scalar loads) and an aligned one (vec4 loads, the pipelines a model uses), and drops any
// candidate that computes wrong (e.g. subgroups of an unexpected size); then times the rest on
// representative shapes and keeps the fastest. The choice is filed under matmulTuneKey (kernel
// version, library version, adapter, driver and its version), in memory and, where a store is
// registered (Node: matmul-tune.node.ts), on disk, so a software driver's choice never lands on a
// real GPU, and a driver or library update tunes again. gemm uses the recorded choice for this
// adapter, else a default by adapter kind.
//
// autoTune(gpu, config, B, T) tunes on every distinct GEMM of that model's training step, each
// weighted by how often a step runs it (so the choice minimises the step's GEMM time, not the time
// of its largest product; shapes capped in size so one candidate takes about a second to time, the
// weight scaled up to match), its attention layout (attention-tune.ts) and its row kernels' layouts
// (rows-tune.ts). The model calls autoTuneOnce at its first
// training step, so the first use on an adapter tunes (with progress lines) and every later one
// reads the record; `mqg tune` runs it explicitly and prints the table.

import type { GPUContext } from '../gpu/context';
import { DEFAULT_BCAST, DEFAULT_TILED, type MatmulTuneRecord, checkVariant, matmulTuneKey, gemm, matmulTuneRecord, recordMatmulTune, setMatmulVariant, subgroupSizes } from './matmul';
import { isSoftwareAdapter } from '../gpu/adapter';
import { type MatmulVariant, variantName } from './matmul-wgsl';
import { type AttentionTuneRecord, type SubgroupVariant, attentionForced, attentionTuneRecord, subgroupAttentionAvailable } from './attention';
import { attentionCandidates, attentionVariantName, tuneAttention } from './attention-tune';
import { type LayernormLayout, layernormLayoutName } from './layernorm';
import { type RowTuneResult, rowTuneRecords, tuneRowKernels } from './rows-tune';
import { tuneValues } from './tune-values';

export interface TuneMatmulOptions {
  /** Variants to try; default: a list for this kind of adapter. */
  candidates?: MatmulVariant[];
  /** Time again even if a choice is recorded for this adapter. */
  force?: boolean;
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Shapes to time, [M, N, K, transA, transB, weight?]; default TUNE_SHAPES. */
  shapes?: Shape[];
  /** Progress lines (compiling a candidate takes seconds on a software adapter). */
  log?: (line: string) => void;
}

/** [M, N, K, transA, transB] and optionally its weight in the objective (default 1): the total is Σ weight · ms. */
export type Shape = [number, number, number, boolean, boolean] | [number, number, number, boolean, boolean, number];

/** Shapes the candidates are timed on, [M, N, K, transA, transB]: a cube and GPT-2-like tall-skinny ones. */
export const TUNE_SHAPES: Shape[] = [
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
  return out.filter((v) => {
    try {
      checkVariant(gpu, v);
      return true;
    } catch {
      return false;
    }
  });
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
 * work on the same machine) does not favour whichever candidate ran first; a candidate over 3× the
 * leader's time skips the remaining rounds.
 */
export async function tuneMatmul(gpu: GPUContext, options: TuneMatmulOptions = {}): Promise<MatmulTuneRecord> {
  const log = options.log ?? (() => {});
  const shapeList = options.shapes ?? TUNE_SHAPES;
  const weights = shapeList.map((s) => {
    const w = s[5] ?? 1;
    if (!(w > 0 && Number.isFinite(w))) throw new RangeError(`tuneMatmul: shape ${JSON.stringify(s)} has weight ${w}; a weight must be a positive finite number`);
    return w;
  });
  if (!options.force) {
    const rec = matmulTuneRecord(gpu);
    if (rec) return rec;
  }
  const bufs = shapeBuffers(gpu, shapeList);
  const weighted = (ms: number[]) => ms.reduce((sum, x, i) => sum + x * weights[i]!, 0);
  const live: { v: MatmulVariant; name: string; reps: number[]; best: number[] }[] = [];
  const rejected: Record<string, string> = {};
  const candidates = options.candidates ?? matmulCandidates(gpu);
  try {
    // verify, compile and size the repetitions (about 50 ms per shape) of each candidate
    for (const [ci, v] of candidates.entries()) {
      const name = variantName(v);
      try {
        log(`matmul tune: candidate ${ci + 1}/${candidates.length} ${name}: checking and compiling`);
        checkVariant(gpu, v);
        setMatmulVariant(gpu, v);
        const wrong = await verify(gpu);
        if (wrong) {
          rejected[name] = `wrong result: ${wrong}`;
          log(`matmul tune: ${name} computes wrong results here (${wrong}); rejected`);
          continue;
        }
        await timeShapes(gpu, bufs, bufs.map(() => 1)); // compiles
        const once = await timeShapes(gpu, bufs, bufs.map(() => 1));
        const reps = once.map((ms) => Math.max(1, Math.min(50, Math.round(50 / Math.max(ms, 0.01)))));
        live.push({ v, name, reps, best: once });
        log(`matmul tune: ${name} ready (${weighted(once).toFixed(2)} ms)`);
      } catch (e) {
        rejected[name] = `failed: ${(e as Error).message}`;
        log(`matmul tune: ${name} failed: ${(e as Error).message}`);
      }
    }
    const total = (c: (typeof live)[number]) => weighted(c.best);
    for (let round = 0; round < 3; round++) {
      const lead = Math.min(...live.map(total));
      for (const c of live) {
        if (total(c) > 3 * lead) continue; // 3× the leader: more rounds will not make it win, only cost time
        setMatmulVariant(gpu, c.v);
        const ms = await timeShapes(gpu, bufs, c.reps);
        c.best = c.best.map((b, i) => Math.min(b, ms[i]!));
      }
    }
  } finally {
    setMatmulVariant(gpu, null);
    for (const s of bufs) for (const t of [s.a, s.b, s.out]) t.buffer.destroy();
  }
  if (!live.length) {
    const why = Object.entries(rejected).map(([n, r]) => `${n}: ${r}`).join('; ');
    throw new Error(`tuneMatmul: no candidate variant ran correctly on ${gpu.adapterName} (${why})`);
  }
  const timings: Record<string, number> = {};
  let best = live[0]!;
  for (const c of live) {
    const total = weighted(c.best);
    timings[c.name] = Math.round(total * 1000) / 1000;
    log(`matmul tune: ${c.name} ${total.toFixed(2)} ms`);
    if (total < timings[best.name]!) best = c;
  }
  const record: MatmulTuneRecord = {
    variant: best.v, timings, rejected, shapes: shapeList, precision: gpu.precision, date: new Date().toISOString(),
  };
  recordMatmulTune(gpu, record, options.persist ?? true);
  log(`matmul tune: chose ${best.name} for ${gpu.adapterName}`);
  return record;
}

// ------------------------------------------------------------------------------------------------
// Tuning on a model's shapes

/** What autoTune needs of a GPT-2 config. */
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
export function modelTuneShapes(config: TuneModelShape, B: number, T: number): Shape[] {
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

export interface AutoTuneOptions {
  /** Progress lines; default none. */
  onProgress?: (line: string) => void;
  /** Time again even if this adapter has a record. */
  force?: boolean;
  /** Matmul candidates (default matmulCandidates(gpu)). */
  candidates?: MatmulVariant[];
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Attention candidates (default attentionCandidates(gpu, hs)). */
  attentionCandidates?: SubgroupVariant[];
  /** Row-kernel candidates (default: layernormCandidates(gpu), CROSS_ENTROPY_WORKGROUPS). */
  layernormCandidates?: LayernormLayout[];
  crossEntropyCandidates?: number[];
}

export interface AutoTuneResult {
  /** The store key: adapter, driver, library and kernel versions. */
  key: string;
  matmul: MatmulTuneRecord;
  /** The attention layout chosen for the model's head size; absent where there is no choice (see tuneAttention). */
  attention?: AttentionTuneRecord;
  /** The row kernels' layouts for the model's width and vocabulary (tuneRowKernels). */
  rows: RowTuneResult;
  /** True when the records already existed and nothing was timed. */
  cached: boolean;
}

/**
 * Tune the kernels with choices for this adapter on the shapes of this model at (B, T), or return
 * the recorded choices when there are (nothing timed): matmul on the model's GEMM shapes, and with
 * config.nHead the attention layout on its attention shape (tuneAttention: software adapters with
 * subgroups only), and the row kernels' layouts (layernorm for nEmbd, cross-entropy for
 * paddedVocabSize: tuneRowKernels).
 */
export async function autoTune(gpu: GPUContext, config: TuneModelShape, B: number, T: number, options: AutoTuneOptions = {}): Promise<AutoTuneResult> {
  if (options.attentionCandidates && !config.nHead) throw new RangeError('autoTune: attentionCandidates given, but the config has no nHead to tune attention for');
  const key = matmulTuneKey(gpu);
  const cachedMatmul = options.force ? undefined : matmulTuneRecord(gpu);
  const hs = config.nHead ? config.nEmbd / config.nHead : 0;
  const cachedAttention = options.force || !hs ? undefined : attentionTuneRecord(gpu, hs);
  const matmul = cachedMatmul ?? await tuneMatmul(gpu, {
    force: true,
    candidates: options.candidates,
    persist: options.persist,
    shapes: modelTuneShapes(config, B, T),
    log: options.onProgress,
  });
  const attention = !config.nHead
    ? undefined
    : cachedAttention ?? await tuneAttention(gpu, { B, T, C: config.nEmbd, NH: config.nHead }, {
      force: true, persist: options.persist, candidates: options.attentionCandidates, log: options.onProgress,
    });
  const rowShape = { BT: B * T, C: config.nEmbd, Vp: config.paddedVocabSize };
  const cachedRows = options.force ? undefined : rowTuneRecords(gpu, rowShape);
  const rows = cachedRows ?? await tuneRowKernels(gpu, rowShape, {
    force: true, persist: options.persist, layernormCandidates: options.layernormCandidates, crossEntropyCandidates: options.crossEntropyCandidates, log: options.onProgress,
  });
  return { key, matmul, attention, rows, cached: !!cachedMatmul && (!attentionToTune(gpu, config) || !!cachedAttention) && !!cachedRows };
}

/** Whether this model's attention has a layout choice here (and none is forced). */
function attentionToTune(gpu: GPUContext, config: TuneModelShape): boolean {
  if (!config.nHead) return false;
  const hs = config.nEmbd / config.nHead;
  return Number.isInteger(hs) && subgroupAttentionAvailable(gpu, hs) && !attentionForced(gpu) && attentionCandidates(gpu, hs).length > 0;
}

const autoTuned = new WeakMap<GPUContext, Promise<void>>();

/** Whether the model's first-use hook tunes: not with MQG_AUTOTUNE=0, nor under vitest unless MQG_AUTOTUNE=1. */
export function autoTuneEnabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
  if (env.MQG_AUTOTUNE === '0') return false;
  return env.MQG_AUTOTUNE === '1' || !env.VITEST;
}

/**
 * The hook the model calls at its first training step: tunes once per context (see autoTune) with
 * progress lines on stderr, unless a record exists; a tuning failure keeps the default and says so.
 */
export function autoTuneOnce(gpu: GPUContext, config: TuneModelShape, B: number, T: number): Promise<void> {
  let p = autoTuned.get(gpu);
  if (!p) {
    p = (async () => {
      if (!autoTuneEnabled()) return;
      const hs = config.nHead ? config.nEmbd / config.nHead : 0;
      const needMatmul = !matmulTuneRecord(gpu), needAttention = attentionToTune(gpu, config) && !attentionTuneRecord(gpu, hs);
      const needRows = !rowTuneRecords(gpu, { C: config.nEmbd, Vp: config.paddedVocabSize });
      if (!needMatmul && !needAttention && !needRows) return;
      const what = [needMatmul ? 'matmul' : '', needAttention ? 'attention' : '', needRows ? 'the row kernels' : ''].filter((x) => x).join(', ');
      const say = (line: string) => console.error(line);
      say(`mqg: first use of ${gpu.adapterName}: tuning ${what} on this model's shapes (once per adapter and driver; \`mqg tune\` redoes it, MQG_AUTOTUNE=0 skips it)`);
      try {
        const r = await autoTune(gpu, config, B, T, { onProgress: (l) => /candidate|rejected|failed/.test(l) && say(l) });
        if (needMatmul) say(`mqg: matmul variant ${variantName(r.matmul.variant)} chosen for this adapter`);
        if (needAttention && r.attention) say(`mqg: attention layout ${attentionVariantName(r.attention.variant)} chosen for hs=${hs}`);
        if (needRows) say(`mqg: layernorm layout ${layernormLayoutName(r.rows.layernorm.variant)} and cross-entropy wg${r.rows.crossEntropy.variant} chosen`);
      } catch (e) {
        say(`mqg: kernel tuning failed (${(e as Error).message}); using the default variants`);
      }
    })();
    autoTuned.set(gpu, p);
  }
  return p;
}
