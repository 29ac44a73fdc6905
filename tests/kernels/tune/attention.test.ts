// tuneAttention (tune/attention.ts): candidates checked against the tiled kernels and timed, the
// choice recorded per adapter and head size and used by the launchers; a wrong candidate is never
// chosen; autoTune tunes attention beside matmul when the config names its heads, once.
import { afterEach, describe, expect, it } from 'vitest';
import { type AttentionTuneRecord, type SubgroupVariant, attentionChoice, attentionVariant, attentionVariantName } from '../../../src/kernels/attention';
import { attentionCandidates, attentionTuneShape, tuneAttention } from '../../../src/kernels/tune/attention';
import { matmulVariant } from '../../../src/kernels/matmul';
import { setTuneStore, tuneKey } from '../../../src/kernels/tune/store';
import { autoTune, autoTuneOnce } from '../../../src/kernels/tune/auto';
import { DEFAULT_LAYERNORM_LAYOUT } from '../../../src/kernels/layernorm';
import { setKernelSourceHook } from '../../../src/gpu/sources';
import { getGPU } from '../../helpers/gpu';
import { memoryTuneStore } from '../../helpers/tune';

const gpu = await getGPU('f32');
const RUNS = gpu.hasSubgroups && attentionCandidates(gpu, 16).length > 0;
if (!RUNS) console.warn('attention tuning tests skipped: this adapter runs the tiled attention kernels only (no layout choice)');

const SHAPE = { B: 2, T: 24, C: 32, NH: 2 }; // hs 16
const A: SubgroupVariant = { kind: 'subgroup', wg: 8, rows: 1 };
const B: SubgroupVariant = { kind: 'subgroup', wg: 16, rows: 1 };

afterEach(() => {
  setKernelSourceHook(null);
  setTuneStore(undefined);
  attentionChoice.forget();
});

describe.skipIf(!RUNS)('tuneAttention', () => {
  it('checks and times the candidates, records the fastest per head size; the launchers use it', async () => {
    const { saved } = memoryTuneStore();
    const lines: string[] = [];
    const rec = (await tuneAttention(gpu, SHAPE, { candidates: [A, B], force: true, log: (l) => lines.push(l) }))!;
    expect(Object.keys(rec.timings!).sort()).toEqual(['sg16x1', 'sg8x1']);
    expect(Object.values(rec.timings!).every((ms) => ms > 0)).toBe(true);
    // the chosen one's recorded time is the least (timings are rounded to 1 µs: a tie may list another first)
    expect(rec.timings![attentionVariantName(rec.variant)]).toBe(Math.min(...Object.values(rec.timings!)));
    expect(rec.shape).toEqual(SHAPE);
    expect(saved.get(attentionChoice.key(gpu, 16))).toEqual(rec);
    expect(attentionVariant(gpu, 16)).toEqual(rec.variant);
    expect(attentionVariant(gpu, 32)).toEqual(A); // another head size: untuned, the default
    expect(lines.some((l) => /candidate 2\/2 sg16x1/.test(l))).toBe(true);
    // recorded: returned without timing; a fresh process reads it from the store
    expect(await tuneAttention(gpu, SHAPE, { candidates: [A, B] })).toBe(rec);
    attentionChoice.forget();
    expect(attentionChoice.record(gpu, 16)).toEqual(rec);
    // a stored record the adapter cannot run (hs 256 has no subgroup kernels) is ignored
    saved.set(attentionChoice.key(gpu, 256), { ...rec } as unknown as AttentionTuneRecord);
    expect(attentionChoice.record(gpu, 256)).toBeUndefined();
    expect(attentionVariant(gpu, 256)).toEqual({ kind: 'tiled' });
    // candidates that cannot be honoured are an error, not ignored
    await expect(tuneAttention(gpu, { B: 1, T: 8, C: 256, NH: 1 }, { candidates: [A] })).rejects.toThrow(/hs=256 .* runs the tiled kernels only/);
    await expect(autoTune(gpu, { nEmbd: 32, paddedVocabSize: 64 }, 2, 8, { attentionCandidates: [A] })).rejects.toThrow(/no nHead/);
  });

  it('a candidate that computes wrong results is rejected, never chosen', async () => {
    memoryTuneStore();
    // break B only: its forward output is doubled, which a right kernel never does
    setKernelSourceHook((name, code) => (/^attention_forward_.*_sg16x1$/.test(name) ? code.replace('* inv);', '* inv * 2.0);') : code));
    const rec = (await tuneAttention(gpu, SHAPE, { candidates: [B, A], force: true, persist: false }))!;
    expect(rec.variant).toEqual(A);
    expect(rec.rejected?.sg16x1).toMatch(/^wrong result: out\[/);
    expect(Object.keys(rec.timings!)).toEqual(['sg8x1']);
    await expect(tuneAttention(gpu, SHAPE, { candidates: [B], force: true, persist: false })).rejects.toThrow(/no candidate ran correctly.*wrong result/);
  });

  it('autoTune tunes attention beside matmul when the config names its heads, then reuses both records', async () => {
    const { saved, saves } = memoryTuneStore();
    const config = { nEmbd: 32, nHead: 2, nInner: 64, paddedVocabSize: 64 };
    const first = await autoTune(gpu, config, 2, 24, { candidates: [matmulVariant(gpu)], attentionCandidates: [A, B], layernormCandidates: [DEFAULT_LAYERNORM_LAYOUT], crossEntropyCandidates: [64] });
    expect(first.cached).toBe(false);
    expect(first.attention).toBeDefined();
    expect(saved.get(attentionChoice.key(gpu, 16))).toEqual(first.attention);
    expect(saved.get(tuneKey(gpu))).toEqual(first.matmul);
    attentionChoice.forget();
    const second = await autoTune(gpu, config, 2, 24);
    expect(second.cached).toBe(true);
    expect(second.attention).toEqual(first.attention as AttentionTuneRecord);
    await autoTuneOnce(gpu, config, 2, 24); // records exist: nothing is timed or saved
    expect(saves()).toBe(4); // matmul, attention and the row kernels' two
  });
});

describe('attention tuning shape', () => {
  it('cuts B, then T, so one candidate times quickly; small shapes are kept', () => {
    expect(attentionTuneShape({ B: 8, T: 128, C: 128, NH: 4 })).toEqual({ B: 8, T: 128, C: 128, NH: 4 });
    const big = attentionTuneShape({ B: 16, T: 1024, C: 768, NH: 12 });
    expect(big.B * big.NH * big.T * big.T * 64).toBeLessThanOrEqual(2 ** 25);
    expect(big).toMatchObject({ B: 1, C: 768, NH: 12 });
  });
});
