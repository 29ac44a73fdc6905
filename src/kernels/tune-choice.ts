// A per-adapter kernel choice (a layout or variant) as the tuners keep it: forced on a context
// (tests, benchmarks), else the tuned record filed under a key in the tune store (matmul.ts's, a
// JSON file in Node) and kept in memory once read, else the caller's default. Stored records that
// no longer describe a valid choice (an older kernel, another adapter) are ignored.

import type { GPUContext } from '../gpu/context';
import { loadTuneRecord, saveTuneRecord } from './matmul';

/** What a tuner stores for one choice: the winner, and what it measured. */
export interface TuneRecord<V> {
  variant: V;
  /** Milliseconds per candidate (by name) on the tuning shape. */
  timings?: Record<string, number>;
  /** Candidates dropped because they computed wrong results or failed, with the reason. */
  rejected?: Record<string, string>;
  /** The shape timed, and the precision. */
  shape?: Record<string, number>;
  precision?: string;
  date?: string;
}

export class TunedChoice<V> {
  private readonly records = new Map<string, TuneRecord<V> | null>();
  private readonly forcedOn = new WeakMap<GPUContext, V>();

  /** `problem(v)`: why v is not a valid choice ('' when it is). */
  constructor(private readonly problem: (v: V) => string) {}

  /** The tuned record under key, from memory or the store; undefined when none (or a stale one). */
  record(key: string): TuneRecord<V> | undefined {
    let rec = this.records.get(key);
    if (rec === undefined) {
      const stored = loadTuneRecord(key) as TuneRecord<V> | undefined;
      rec = stored && stored.variant !== undefined && !this.problem(stored.variant) ? stored : null;
      this.records.set(key, rec);
    }
    return rec ?? undefined;
  }

  /** Remember a tuned choice (memory, and the store when `persist`). */
  save(key: string, record: TuneRecord<V>, persist: boolean): void {
    this.records.set(key, record);
    if (persist) saveTuneRecord(key, record);
  }

  /** Force v on this context (null: back to tuned / default); an invalid v is a RangeError. */
  force(gpu: GPUContext, v: V | null, what: string): void {
    if (v === null) return void this.forcedOn.delete(gpu);
    const problem = this.problem(v);
    if (problem) throw new RangeError(`${what}: ${problem}`);
    this.forcedOn.set(gpu, v);
  }

  forced(gpu: GPUContext): V | undefined {
    return this.forcedOn.get(gpu);
  }

  /** Forget the in-memory records (tests: a fresh process). */
  forget(): void {
    this.records.clear();
  }
}

/** Where `got` differs from `want` beyond atol + rtol·|want| (NaN never matches), or ''. */
export function mismatch(what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): string {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) return `${what}[${i}] = ${got[i]} instead of ${want[i]}`;
  }
  return '';
}

/** One tuning problem: candidates of a kernel choice, how to run them and check their outputs. */
export interface CandidateTuning<V> {
  /** Prefix of progress lines and errors, e.g. 'layernorm tune'. */
  what: string;
  /** The choice whose outputs are the reference (the portable default, itself tested against float64). */
  reference: V;
  candidates: V[];
  name(v: V): string;
  /** Make the launchers use v (null: undo). */
  use(v: V | null): void;
  /** Reset the inputs that a run overwrites or accumulates into, so a checked run starts from the same state. */
  reset(): void;
  /** Record `reps` runs in one step and submit it. */
  run(reps: number): void;
  /** The outputs a candidate must reproduce, by name. */
  outputs(): Promise<Record<string, ArrayLike<number>>>;
  atol: number;
  rtol: number;
  /** Milliseconds one timed batch of runs aims at. */
  targetMs: number;
  log(line: string): void;
}

/**
 * Check every candidate against the reference's outputs (a wrong or failing one is rejected, with
 * the reason), time the rest round-robin (best of 5 rounds: a CPU shared with other work is noisy),
 * and return the fastest. Always restores the launchers' choice (use(null)).
 */
export async function tuneCandidates<V>(t: CandidateTuning<V>, sync: () => Promise<void>): Promise<{ best: V; timings: Record<string, number>; rejected: Record<string, string> }> {
  const timed = async (reps: number) => {
    const t0 = performance.now();
    t.run(reps);
    await sync();
    return (performance.now() - t0) / reps;
  };
  const checked = async () => {
    t.reset();
    t.run(1);
    return t.outputs();
  };
  const live: { v: V; name: string; reps: number; best: number }[] = [];
  const rejected: Record<string, string> = {};
  try {
    t.use(t.reference);
    const want = await checked();
    for (const [i, v] of t.candidates.entries()) {
      const name = t.name(v);
      try {
        t.log(`${t.what}: candidate ${i + 1}/${t.candidates.length} ${name}: checking and compiling`);
        t.use(v);
        const got = await checked();
        const wrong = Object.keys(want).map((k) => mismatch(k, got[k]!, want[k]!, t.atol, t.rtol)).find((m) => m) ?? '';
        if (wrong) {
          rejected[name] = `wrong result: ${wrong}`;
          t.log(`${t.what}: ${name} computes wrong results here (${wrong}); rejected`);
          continue;
        }
        const once = await timed(1);
        live.push({ v, name, reps: Math.max(1, Math.min(200, Math.round(t.targetMs / Math.max(once, 0.01)))), best: once });
      } catch (e) {
        rejected[name] = `failed: ${(e as Error).message}`;
        t.log(`${t.what}: ${name} failed: ${(e as Error).message}`);
      }
    }
    for (let round = 0; round < 5; round++) {
      for (const c of live) {
        t.use(c.v);
        c.best = Math.min(c.best, await timed(c.reps));
      }
    }
  } finally {
    t.use(null);
  }
  if (!live.length) {
    const why = Object.entries(rejected).map(([n, r]) => `${n}: ${r}`).join('; ');
    throw new Error(`${t.what}: no candidate ran correctly (${why})`);
  }
  const timings: Record<string, number> = {};
  let best = live[0]!;
  for (const c of live) {
    timings[c.name] = Math.round(c.best * 1000) / 1000;
    t.log(`${t.what}: ${c.name} ${c.best.toFixed(3)} ms`);
    if (c.best < best.best) best = c;
  }
  return { best: best.v, timings, rejected };
}
