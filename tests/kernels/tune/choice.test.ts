// The one TunedChoice (tune/choice.ts) behind every tuned kernel: forced beats recorded beats the
// default, for matmul, attention, layernorm and cross-entropy alike; records are filed under the
// kernel's key in the one store (tune/store.ts), stale ones ignored, and replacing the store makes
// every choice read it afresh. And the one candidate loop (tune/candidates.ts) on a CPU-only
// problem: wrong and failing candidates rejected, the fastest chosen, the launchers restored.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_BCAST, DEFAULT_BCAST16, DEFAULT_TILED, type MatmulVariant, matmulChoice, matmulVariant, matmulVariantProblem, setMatmulVariant } from '../../../src/kernels/matmul';
import { type AttentionTuneRecord, attentionChoice, attentionVariant, setAttentionVariant, subgroupAttentionAvailable } from '../../../src/kernels/attention';
import { DEFAULT_LAYERNORM_LAYOUT, layernormChoice, layernormLayout, setLayernormLayout } from '../../../src/kernels/layernorm';
import { crossEntropyChoice, crossEntropyWorkgroup, setCrossEntropyWorkgroup } from '../../../src/kernels/classifier';
import { setTuneStore, tuneKey } from '../../../src/kernels/tune/store';
import { tuneCandidates } from '../../../src/kernels/tune/candidates';
import { getGPU } from '../../helpers/gpu';
import { memoryTuneStore } from '../../helpers/tune';

const gpu = await getGPU('f32');

afterEach(() => {
  setMatmulVariant(gpu, null);
  setAttentionVariant(gpu, null);
  setLayernormLayout(gpu, null);
  setCrossEntropyWorkgroup(gpu, null);
  setTuneStore(undefined);
});

describe('TunedChoice', () => {
  it('matmul: forced, else recorded, else the default; records filed under the adapter key', () => {
    const { saved } = memoryTuneStore();
    const byDefault = matmulVariant(gpu);
    expect([DEFAULT_BCAST, DEFAULT_BCAST16, DEFAULT_TILED]).toContainEqual(byDefault);
    const others: MatmulVariant[] = [DEFAULT_TILED, { kind: 'tiled', tm: 8, tn: 4, wx: 16, wy: 16, bk: 16 }, { kind: 'bcast', tm: 8, tn: 4, wx: 8, wy: 8, subgroups: false }];
    const [tuned, forced] = others.filter((v) => JSON.stringify(v) !== JSON.stringify(byDefault) && !matmulVariantProblem(gpu, v));
    matmulChoice.save(gpu, undefined, { variant: tuned! }, true);
    expect(saved.get(tuneKey(gpu))).toEqual({ variant: tuned });
    expect(matmulVariant(gpu)).toEqual(tuned);
    setMatmulVariant(gpu, forced!);
    expect(matmulVariant(gpu)).toEqual(forced);
    setMatmulVariant(gpu, null);
    expect(matmulVariant(gpu)).toEqual(tuned);
    // a new store: the in-memory record is forgotten, the store's is read; a stale one is ignored
    setTuneStore({ load: () => ({ variant: { kind: 'bcast', tm: 7, tn: 4, wx: 8, wy: 8, subgroups: false } }), save: () => {} });
    expect(matmulChoice.record(gpu)).toBeUndefined();
    expect(matmulVariant(gpu)).toEqual(byDefault);
    expect(() => setMatmulVariant(gpu, { kind: 'tiled', tm: 3, tn: 4, wx: 16, wy: 16, bk: 16 })).toThrow(/is not a valid tiling/);
  });

  it('attention: forced, else (where the subgroup kernels run) recorded, else the default; per head size', () => {
    const { saved } = memoryTuneStore();
    const sg = subgroupAttentionAvailable(gpu, 16);
    const byDefault = attentionVariant(gpu, 16);
    expect(byDefault).toEqual(sg ? { kind: 'subgroup', wg: 8, rows: 1 } : { kind: 'tiled' });
    const rec: AttentionTuneRecord = { variant: { kind: 'subgroup', wg: 16, rows: 1 } };
    attentionChoice.save(gpu, 16, rec, true);
    expect(saved.get(attentionChoice.key(gpu, 16))).toEqual(rec);
    expect(attentionChoice.key(gpu, 16)).toContain(tuneKey(gpu));
    expect(attentionVariant(gpu, 16)).toEqual(sg ? rec.variant : { kind: 'tiled' }); // the tiled kernels have no choice
    expect(attentionVariant(gpu, 32)).toEqual(sg ? { kind: 'subgroup', wg: 8, rows: 1 } : { kind: 'tiled' }); // untuned head size
    setAttentionVariant(gpu, { kind: 'tiled' });
    expect(attentionVariant(gpu, 16)).toEqual({ kind: 'tiled' });
    setAttentionVariant(gpu, null);
    attentionChoice.forget();
    expect(attentionChoice.record(gpu, 16)).toEqual(gpu.hasSubgroups ? rec : undefined); // a fresh process: from the store (a layout this adapter cannot run: ignored)
    expect(() => setAttentionVariant(gpu, { kind: 'subgroup', wg: 12, rows: 1 })).toThrow(/^attention: subgroup variant needs wg a multiple of 8/);
  });

  it('layernorm and cross-entropy: the same precedence; a choice the kernel cannot take is refused', () => {
    memoryTuneStore();
    expect(layernormLayout(gpu, 48)).toEqual(DEFAULT_LAYERNORM_LAYOUT);
    layernormChoice.save(gpu, 48, { variant: { lanes: 4, rows: 16 } }, false);
    expect(layernormLayout(gpu, 48)).toEqual({ lanes: 4, rows: 16 });
    setLayernormLayout(gpu, { lanes: 2, rows: 16 });
    expect(layernormLayout(gpu, 48)).toEqual({ lanes: 2, rows: 16 });
    expect(() => setLayernormLayout(gpu, { lanes: 3, rows: 8 })).toThrow(/^layernorm: /);
    expect(crossEntropyWorkgroup(gpu, 100, 100)).toBe(64);
    crossEntropyChoice.save(gpu, 100, { variant: 128 }, false);
    expect(crossEntropyWorkgroup(gpu, 100, 100)).toBe(128);
    setCrossEntropyWorkgroup(gpu, 32);
    expect(crossEntropyWorkgroup(gpu, 100, 100)).toBe(32);
    expect(() => setCrossEntropyWorkgroup(gpu, 48)).toThrow(/^crossEntropy: workgroup size 48/);
  });
});

describe('tuneCandidates', () => {
  /** A CPU-only tuning problem: each candidate is a cost in ms per run; 'wrong' and 'broken' ones misbehave. */
  function problem(candidates: string[], lines: string[] = []) {
    let current: string | null = null;
    const used: (string | null)[] = [];
    const cost: Record<string, number> = { fast: 0.05, slow: 0.4, wrong: 0.01, broken: 0.01 };
    return {
      used,
      tuning: {
        what: 'toy tune',
        candidates,
        name: (v: string) => v,
        use: (v: string | null) => {
          if (v === 'broken') throw new Error('cannot run here');
          used.push((current = v));
        },
        check: async () => (current === 'wrong' ? 'out[0] = 2 instead of 1' : ''),
        weights: [1, 2],
        run: (_: number, reps: number) => {
          const until = performance.now() + reps * cost[current!]!;
          while (performance.now() < until);
        },
        targetMs: 2, maxReps: 20, log: (l: string) => lines.push(l),
      },
    };
  }

  it('rejects wrong and failing candidates, times the rest by weighted total, restores the launchers', async () => {
    const lines: string[] = [];
    const { tuning, used } = problem(['slow', 'wrong', 'broken', 'fast'], lines);
    const r = await tuneCandidates(tuning, async () => {});
    expect(r.best).toBe('fast');
    expect(Object.keys(r.timings).sort()).toEqual(['fast', 'slow']);
    expect(r.timings.fast!).toBeLessThan(r.timings.slow!);
    expect(r.timings.fast!).toBeGreaterThanOrEqual(3 * 0.05 - 1e-3); // weights 1 + 2
    expect(r.rejected.wrong).toBe('wrong result: out[0] = 2 instead of 1');
    expect(r.rejected.broken).toBe('failed: cannot run here');
    expect(used.at(-1)).toBeNull();
    expect(lines.some((l) => /^toy tune: candidate 4\/4 fast/.test(l))).toBe(true);
    const none = problem(['wrong', 'broken']);
    await expect(tuneCandidates(none.tuning, async () => {})).rejects.toThrow('toy tune: no candidate ran correctly (wrong: wrong result: out[0] = 2 instead of 1; broken: failed: cannot run here)');
    expect(none.used.at(-1)).toBeNull();
  });
});
