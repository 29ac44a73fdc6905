// The one candidate loop every tuner runs (matmul, attention, the row kernels): check each candidate
// (a wrong or failing one is rejected, with the reason), then time the rest round-robin and keep
// the fastest. Also what the tuners check with: a comparison against a reference choice's outputs,
// and the deterministic inputs they run on.
//
// Timing: each candidate is compiled and warmed up, timed once to size its batches (about targetMs
// per batch), then timed in ROUNDS rounds, round-robin, keeping each part's best: a CPU shared with
// other work is noisy, and round-robin keeps a change in load from favouring whichever candidate
// ran first. A candidate over 3× the leader's total skips the remaining rounds (more rounds will
// not make it win, only cost time: matmul's slow tilings on a CPU adapter).

/** Rounds of timing per candidate (the best of them counts). */
export const ROUNDS = 5;

/** One tuning problem: the candidates of a kernel choice, how to check and time them. */
export interface CandidateTuning<V> {
  /** Prefix of progress lines and errors, e.g. 'layernorm tune'. */
  what: string;
  candidates: V[];
  name(v: V): string;
  /** Make the launchers use v (null: undo); may throw for a v this context cannot run (rejected as failed). */
  use(v: V | null): void;
  /** Run once before the candidates (e.g. the reference's outputs, tuneAgainstReference). */
  setup?(): Promise<void>;
  /** Why the candidate in use computes wrong results, or '' when it computes right. */
  check(): Promise<string>;
  /** What is timed: parts (matmul: one per shape) and each one's weight in a candidate's total. */
  weights: number[];
  /** Record `reps` runs of part i in one step and submit it. */
  run(part: number, reps: number): void;
  /** Milliseconds one timed batch of a part aims at, and the most runs in one batch. */
  targetMs: number;
  maxReps: number;
  log(line: string): void;
  /** The error message when no candidate ran correctly; default `${what}: no candidate ran correctly (why)`. */
  failure?(why: string): string;
}

export interface CandidateResult<V> {
  best: V;
  /** Each timed candidate's weighted total in ms (3 decimals), by name. */
  timings: Record<string, number>;
  rejected: Record<string, string>;
}

interface Live<V> {
  v: V;
  name: string;
  reps: number[];
  best: number[];
}

/**
 * Check every candidate, time the correct ones (see the module header) and return the fastest by
 * weighted total. Always restores the launchers' choice (use(null)). Throws when none ran correctly.
 */
export async function tuneCandidates<V>(t: CandidateTuning<V>, sync: () => Promise<void>): Promise<CandidateResult<V>> {
  const time = async (reps: number[]) => {
    const ms: number[] = [];
    for (const [i, n] of reps.entries()) {
      const t0 = performance.now();
      t.run(i, n);
      await sync();
      ms.push((performance.now() - t0) / n);
    }
    return ms;
  };
  const total = (ms: number[]) => ms.reduce((sum, x, i) => sum + x * t.weights[i]!, 0);
  const ones = t.weights.map(() => 1);
  const live: Live<V>[] = [];
  const rejected: Record<string, string> = {};
  try {
    await t.setup?.();
    for (const [i, v] of t.candidates.entries()) {
      const name = t.name(v);
      try {
        t.log(`${t.what}: candidate ${i + 1}/${t.candidates.length} ${name}: checking and compiling`);
        t.use(v);
        const wrong = await t.check();
        if (wrong) {
          rejected[name] = `wrong result: ${wrong}`;
          t.log(`${t.what}: ${name} computes wrong results here (${wrong}); rejected`);
          continue;
        }
        await time(ones); // compiles what the check did not
        const once = await time(ones);
        const reps = once.map((ms) => Math.max(1, Math.min(t.maxReps, Math.round(t.targetMs / Math.max(ms, 0.01)))));
        live.push({ v, name, reps, best: once });
        t.log(`${t.what}: ${name} ready (${total(once).toFixed(3)} ms)`);
      } catch (e) {
        rejected[name] = `failed: ${(e as Error).message}`;
        t.log(`${t.what}: ${name} failed: ${(e as Error).message}`);
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      const lead = Math.min(...live.map((c) => total(c.best)));
      for (const c of live) {
        if (total(c.best) > 3 * lead) continue;
        t.use(c.v);
        const ms = await time(c.reps);
        c.best = c.best.map((b, i) => Math.min(b, ms[i]!));
      }
    }
  } finally {
    t.use(null);
  }
  if (!live.length) {
    const why = Object.entries(rejected).map(([n, r]) => `${n}: ${r}`).join('; ');
    throw new Error(t.failure ? t.failure(why) : `${t.what}: no candidate ran correctly (${why})`);
  }
  const timings: Record<string, number> = {};
  let best = live[0]!;
  for (const c of live) {
    timings[c.name] = Math.round(total(c.best) * 1000) / 1000;
    t.log(`${t.what}: ${c.name} ${total(c.best).toFixed(3)} ms`);
    if (total(c.best) < total(best.best)) best = c;
  }
  return { best: best.v, timings, rejected };
}

/** A tuning problem whose candidates must reproduce a reference choice's outputs; one part is timed. */
export interface ReferenceTuning<V> extends Pick<CandidateTuning<V>, 'what' | 'candidates' | 'name' | 'use' | 'targetMs' | 'log'> {
  /** The choice whose outputs are the reference (the portable default, itself tested against float64). */
  reference: V;
  /** Reset the inputs that a run overwrites or accumulates into, so a checked run starts from the same state. */
  reset(): void;
  /** Record `reps` runs in one step and submit it. */
  run(reps: number): void;
  /** The outputs a candidate must reproduce, by name. */
  outputs(): Promise<Record<string, ArrayLike<number>>>;
  atol: number;
  rtol: number;
}

/** tuneCandidates, each candidate checked against the reference's outputs within atol + rtol·|want|. */
export function tuneAgainstReference<V>(t: ReferenceTuning<V>, sync: () => Promise<void>): Promise<CandidateResult<V>> {
  let want: Record<string, ArrayLike<number>> = {};
  const checked = async () => {
    t.reset();
    t.run(1);
    return t.outputs();
  };
  return tuneCandidates({
    what: t.what, candidates: t.candidates, name: t.name, use: t.use, targetMs: t.targetMs, maxReps: 200, log: t.log,
    setup: async () => {
      t.use(t.reference);
      want = await checked();
    },
    check: async () => {
      const got = await checked();
      return Object.keys(want).map((k) => mismatch(k, got[k]!, want[k]!, t.atol, t.rtol)).find((m) => m) ?? '';
    },
    weights: [1],
    run: (_, reps) => t.run(reps),
  }, sync);
}

/** Where `got` differs from `want` beyond atol + rtol·|want| (NaN never matches), or ''. */
export function mismatch(what: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number): string {
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) return `${what}[${i}] = ${got[i]} instead of ${want[i]}`;
  }
  return '';
}

/** Deterministic values in [-scale, scale), multiples of scale/512: exact in f16 for scale 1 or 1.5 (the tuners' inputs). */
export function tuneValues(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (((s >>> 22) - 512) / 512) * scale;
  }
  return out;
}
