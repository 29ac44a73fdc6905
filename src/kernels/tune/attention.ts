// Per-adapter choice of the attention kernels' layout (lanes per workgroup, rows per lane), the
// attention counterpart of tuneMatmul.
//
// Only software adapters with subgroups have a choice (the 'subgroup' kernels, attention.ts); real
// GPUs always get the tiled kernels. tuneAttention runs the one candidate loop (candidates.ts) on
// each candidate's forward and backward at the model's attention shape: out and dqkv are checked
// against the tiled kernels (the portable reference, themselves tested against a float64 CPU
// reference), a wrong one is rejected, the rest are timed round-robin, and the fastest is recorded
// in attentionChoice (attention.ts) under its key (kernel version, head size, precision and the
// adapter's tuneKey), in memory and in the registered store beside matmul's choice.
//
// Two rows per lane runs ~30% faster on lavapipe but costs ~7× the LLVM compile time (46 s for the
// three hs=64 pipelines), so it is a candidate only up to hs=32.

import type { GPUContext } from '../../gpu/context';
import {
  type AttentionTuneRecord,
  type AttentionVariant,
  type SubgroupVariant,
  attentionBackward,
  attentionChoice,
  attentionForward,
  attentionVariantName,
  attentionVariantProblem,
  setAttentionVariant,
  subgroupAttentionAvailable,
} from '../attention';
import { tuneAgainstReference, tuneValues } from './candidates';

export interface AttentionShape {
  B: number;
  T: number;
  C: number;
  NH: number;
}

export interface TuneAttentionOptions {
  /** Variants to try; default attentionCandidates(gpu, hs). */
  candidates?: SubgroupVariant[];
  /** Time again even if a choice is recorded. */
  force?: boolean;
  /** Write the choice to the registered store (default true). */
  persist?: boolean;
  /** Progress lines; default none. */
  log?: (line: string) => void;
}

/** Candidates for head size hs here: none unless the adapter runs the subgroup kernels at all. */
export function attentionCandidates(gpu: GPUContext, hs: number): SubgroupVariant[] {
  // above hs=64 only the forward has a subgroup kernel, compiled in ~10 s per layout: the default, untuned
  if (!subgroupAttentionAvailable(gpu, hs) || hs > 64) return [];
  const out: SubgroupVariant[] = [
    { kind: 'subgroup', wg: 8, rows: 1 },
    { kind: 'subgroup', wg: 16, rows: 1 },
  ];
  if (hs <= 32) out.push({ kind: 'subgroup', wg: 8, rows: 2 });
  return out;
}

/** Largest shape timed: B·NH·T²·hs multiply-adds, about 50 ms per candidate pass on lavapipe. */
const MAX_TUNE_MACS = 2 ** 25;

/** The model's attention shape with B (then T) cut so one candidate times in well under a second. */
export function attentionTuneShape(s: AttentionShape): AttentionShape {
  let { B, T } = s;
  const macs = (b: number, t: number) => b * s.NH * t * t * (s.C / s.NH);
  while (B > 1 && macs(B, T) > MAX_TUNE_MACS) B = Math.ceil(B / 2);
  while (T > 16 && macs(B, T) > MAX_TUNE_MACS) T = Math.ceil(T / 2);
  return { B, T, C: s.C, NH: s.NH };
}

/**
 * Pick the fastest correct attention layout for head size C/NH on this adapter and record it (see
 * the module header). Returns the record, or undefined where there is nothing to choose (a real GPU,
 * no subgroups, or a head size the subgroup kernels do not cover) or a variant is forced
 * (setAttentionVariant); explicit `candidates` there are an error. With a choice recorded and no
 * `force`, returns it without timing.
 */
export async function tuneAttention(gpu: GPUContext, shape: AttentionShape, options: TuneAttentionOptions = {}): Promise<AttentionTuneRecord | undefined> {
  const log = options.log ?? (() => {});
  const hs = shape.C / shape.NH;
  if (!Number.isInteger(hs)) throw new RangeError(`tuneAttention: C=${shape.C} is not a multiple of NH=${shape.NH}`);
  const forced = attentionChoice.forced(gpu) !== undefined;
  const usable = subgroupAttentionAvailable(gpu, hs) && !forced;
  if (options.candidates && !usable) {
    throw new RangeError(`tuneAttention: candidates given, but ${forced ? 'a variant is forced (setAttentionVariant)' : `hs=${hs} on ${gpu.adapterName} runs the tiled kernels only`}: nothing to choose`);
  }
  const candidates = options.candidates ?? attentionCandidates(gpu, hs);
  if (!usable || !candidates.length) return undefined;
  if (!options.force) {
    const rec = attentionChoice.record(gpu, hs);
    if (rec) return rec;
  }
  const { B, T, C, NH } = attentionTuneShape(shape);
  const dt = gpu.precision;
  const qkv = gpu.tensor([B, T, 3 * C], dt, 'tune.qkv', tuneValues(B * T * 3 * C, 7, 1.5));
  const dout = gpu.tensor([B, T, C], dt, 'tune.dout', tuneValues(B * T * C, 8, 1));
  const out = gpu.tensor([B, T, C], dt, 'tune.out');
  const dqkv = gpu.tensor([B, T, 3 * C], dt, 'tune.dqkv');
  const lse = gpu.tensor([B, NH, T], 'f32', 'tune.lse');
  const delta = gpu.tensor([B, NH, T], 'f32', 'tune.delta');
  const run = (reps: number) => {
    const step = gpu.step('tune attention');
    for (let r = 0; r < reps; r++) {
      attentionForward(step, out, lse, qkv, B, T, C, NH);
      attentionBackward(step, dqkv, delta, dout, out, lse, qkv, B, T, C, NH);
    }
    step.submit();
  };
  // f16: outputs are rounded to f16 storage, and the two families sum in different orders
  const [atol, rtol] = dt === 'f16' ? [2e-2, 2e-2] : [1e-5, 1e-4];
  let tuned;
  try {
    log(`attention tune: reference (tiled kernels) on B=${B} T=${T} C=${C} NH=${NH}`);
    tuned = await tuneAgainstReference<AttentionVariant>({
      what: 'attention tune',
      reference: { kind: 'tiled' },
      candidates,
      name: attentionVariantName,
      use: (v) => {
        const problem = v && attentionVariantProblem(gpu, hs, v);
        if (problem) throw new Error(problem);
        setAttentionVariant(gpu, v);
      },
      reset: () => {}, // every output is overwritten
      run,
      outputs: async () => ({ out: await gpu.download(out), dqkv: await gpu.download(dqkv) }),
      atol, rtol, targetMs: 200, log,
    }, () => gpu.sync());
  } finally {
    for (const t of [qkv, dout, out, dqkv, lse, delta]) t.buffer.destroy();
  }
  const record: AttentionTuneRecord = {
    variant: tuned.best as SubgroupVariant, // the reference (tiled) is not a candidate
    timings: tuned.timings, rejected: tuned.rejected, shape: { B, T, C, NH }, precision: dt, date: new Date().toISOString(),
  };
  attentionChoice.save(gpu, hs, record, options.persist ?? true);
  log(`attention tune: chose ${attentionVariantName(record.variant)} for hs=${hs} (key ${attentionChoice.key(gpu, hs)})`);
  return record;
}
