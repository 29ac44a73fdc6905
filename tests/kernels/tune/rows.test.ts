// tuneRowKernels (tune/rows.ts): layernorm layouts and cross-entropy workgroup sizes checked against
// the defaults and timed, the choices recorded per adapter and shape and used by the launchers; a
// wrong candidate is never chosen; autoTune tunes them beside matmul, once.
import { afterEach, describe, expect, it } from 'vitest';
import { crossEntropyChoice, crossEntropyWorkgroup } from '../../../src/kernels/classifier';
import { DEFAULT_LAYERNORM_LAYOUT, type LayernormLayout, layernormChoice, layernormLayout } from '../../../src/kernels/layernorm';
import { matmulVariant } from '../../../src/kernels/matmul';
import { setTuneStore } from '../../../src/kernels/tune/store';
import { autoTune } from '../../../src/kernels/tune/auto';
import { rowTuneRecords, rowTuneShape, tuneRowKernels } from '../../../src/kernels/tune/rows';
import { setKernelSourceHook } from '../../../src/gpu/sources';
import { getGPU } from '../../helpers/gpu';
import { memoryTuneStore } from '../../helpers/tune';

const gpu = await getGPU('f32');
const SHAPE = { BT: 70, C: 48, Vp: 136 };
const OTHER: LayernormLayout = { lanes: 4, rows: 16 };

afterEach(() => {
  setKernelSourceHook(null);
  setTuneStore(undefined);
  layernormChoice.forget();
  crossEntropyChoice.forget();
});

describe('tuneRowKernels', () => {
  it('checks and times the candidates, records the fastest per C and Vp; the launchers use them', async () => {
    const { saved } = memoryTuneStore();
    const lines: string[] = [];
    const rec = await tuneRowKernels(gpu, SHAPE, { layernormCandidates: [DEFAULT_LAYERNORM_LAYOUT, OTHER], crossEntropyCandidates: [64, 32], log: (l) => lines.push(l) });
    expect(Object.keys(rec.layernorm.timings!).sort()).toEqual(['4x16', '8x8']);
    expect(Object.keys(rec.crossEntropy.timings!).sort()).toEqual(['wg32', 'wg64']);
    for (const r of [rec.layernorm, rec.crossEntropy]) expect(Object.values(r.timings!).every((ms) => ms > 0)).toBe(true);
    // the chosen one's recorded time is the least (timings are rounded to 1 µs: a tie may list another first)
    const least = (t: Record<string, number>) => Math.min(...Object.values(t));
    expect(rec.layernorm.timings![`${rec.layernorm.variant.lanes}x${rec.layernorm.variant.rows}`]).toBe(least(rec.layernorm.timings!));
    expect(rec.crossEntropy.timings![`wg${rec.crossEntropy.variant}`]).toBe(least(rec.crossEntropy.timings!));
    expect(rec.layernorm.shape).toEqual({ BT: 70, C: 48 });
    expect(rec.crossEntropy.shape).toEqual({ BT: 70, Vp: 136 });
    expect(saved.get(layernormChoice.key(gpu, 48))).toEqual(rec.layernorm);
    expect(saved.get(crossEntropyChoice.key(gpu, 136))).toEqual(rec.crossEntropy);
    expect(layernormLayout(gpu, 48)).toEqual(rec.layernorm.variant);
    expect(crossEntropyWorkgroup(gpu, 130, 136)).toBe(rec.crossEntropy.variant);
    // other widths are untuned: the defaults
    expect(layernormLayout(gpu, 64)).toEqual(DEFAULT_LAYERNORM_LAYOUT);
    expect(crossEntropyWorkgroup(gpu, 130, 140)).toBe(64);
    expect(lines.some((l) => /layernorm tune: candidate 2\/2 4x16/.test(l))).toBe(true);
    // recorded: returned without timing; a fresh process reads them from the store
    expect(await tuneRowKernels(gpu, SHAPE)).toEqual(rec);
    layernormChoice.forget();
    crossEntropyChoice.forget();
    expect(rowTuneRecords(gpu, SHAPE)).toEqual(rec);
    // a stored record naming a layout that is not one of ours is ignored
    saved.set(layernormChoice.key(gpu, 96), { ...rec.layernorm, variant: { lanes: 3, rows: 8 } } as never);
    expect(layernormLayout(gpu, 96)).toEqual(DEFAULT_LAYERNORM_LAYOUT);
  });

  it('a candidate that computes wrong results is rejected, never chosen', async () => {
    memoryTuneStore();
    // break 4x16 only: its normalised output is doubled; and wg32's losses
    setKernelSourceHook((name, code) => {
      if (/^residual_layernorm_forward_.*_l4x16$/.test(name)) return code.replace('(norm * ', '(2.0 * norm * ');
      return /^crossentropy_.*_wg32$/.test(name) ? code.replace('+ log(sum);', '+ log(sum) + 1.0;') : code;
    });
    const rec = await tuneRowKernels(gpu, SHAPE, { layernormCandidates: [OTHER, DEFAULT_LAYERNORM_LAYOUT], crossEntropyCandidates: [32, 64], force: true, persist: false });
    expect(rec.layernorm.variant).toEqual(DEFAULT_LAYERNORM_LAYOUT);
    expect(rec.layernorm.rejected?.['4x16']).toMatch(/^wrong result: out\[/);
    expect(rec.crossEntropy.variant).toBe(64);
    expect(rec.crossEntropy.rejected?.wg32).toMatch(/^wrong result: losses\[/);
    await expect(tuneRowKernels(gpu, SHAPE, { layernormCandidates: [OTHER], force: true, persist: false })).rejects.toThrow(/layernorm tune: no candidate ran correctly.*wrong result/);
  });

  it('autoTune tunes the row kernels beside matmul, then reuses the records', async () => {
    const { saved } = memoryTuneStore();
    const config = { nEmbd: 48, paddedVocabSize: 136 };
    const first = await autoTune(gpu, config, 2, 35, { candidates: [matmulVariant(gpu)], layernormCandidates: [DEFAULT_LAYERNORM_LAYOUT], crossEntropyCandidates: [64] });
    expect(first.cached).toBe(false);
    expect(saved.get(layernormChoice.key(gpu, 48))).toEqual(first.rows.layernorm);
    expect(saved.get(crossEntropyChoice.key(gpu, 136))).toEqual(first.rows.crossEntropy);
    layernormChoice.forget();
    crossEntropyChoice.forget();
    const second = await autoTune(gpu, config, 2, 35);
    expect(second.cached).toBe(true);
    expect(second.rows).toEqual(first.rows);
  });
});

describe('row tuning shape', () => {
  it('cuts the rows so one run stays short, never below 64 or above the step', () => {
    expect(rowTuneShape({ BT: 1024, C: 128, Vp: 4096 })).toEqual({ layernormRows: 1024, logitRows: 1024 });
    expect(rowTuneShape({ BT: 4096, C: 2560, Vp: 28928 })).toEqual({ layernormRows: 409, logitRows: 144 });
    expect(rowTuneShape({ BT: 16, C: 50000, Vp: 50304 })).toEqual({ layernormRows: 16, logitRows: 16 });
  });
});
