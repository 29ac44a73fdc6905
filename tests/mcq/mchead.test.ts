// The multiple-choice and proposition heads: the CPU reference against finite differences, then
// the GPU kernels against the reference, forward and backward, in f32 and f16.
import { describe, expect, it } from 'vitest';
import { compare, getGPU, PRECISIONS, randn } from '../helpers/gpu';
import { mcheadBackward, mcheadForward, mcheadLoss } from '../../src/kernels/mchead';
import { roundToF16 } from '../../src/util/f16';
import { mcheadObjective, mcheadRef, type Kind } from '../reference/mchead';

// 3 questions with 3, 2 and 4 rows (question q's rows in groups[q]..groups[q+1]); the summary
// positions are each row's last token in a [B=9, T=5] batch.
const C = 67, T = 5, B = 9;
const groups = [0, 3, 5, 9];
const last = [4, 2, 0, 3, 4, 1, 4, 4, 2];
const pos = last.map((t, b) => b * T + t);
// question 0: one correct; question 1: one; question 2: two (the softmax target is shared)
const labels = [0, 1, 0, 1, 0, 0, 1, 1, 0];
const dlossMean = { softmax: 1 / 3, sigmoid: 1 / 9 };

function fd(f: (x: Float64Array) => number, x: Float64Array, idx: number[], h = 1e-5): number[] {
  return idx.map((i) => {
    const p = Float64Array.from(x); p[i] += h;
    const m = Float64Array.from(x); m[i] -= h;
    return (f(p) - f(m)) / (2 * h);
  });
}

describe.each(['softmax', 'sigmoid'] as Kind[])('mchead CPU reference (%s)', (kind) => {
  it('dweight, dbias and dhidden match central finite differences (float64)', () => {
    const hidden = Float64Array.from(randn(B * T * C, 3, 1));
    const w = Float64Array.from(randn(C, 4, 0.3));
    const bias = 0.2, k = dlossMean[kind], scale = 4;
    const ref = mcheadRef(hidden, pos, w, bias, labels, groups, C, kind, k, scale);
    const idxW = [0, 5, 33, 66];
    expect(compare(idxW.map((i) => ref.dweight[i]!), fd((x) => mcheadObjective(hidden, pos, x, bias, labels, groups, C, kind, k, scale), w, idxW), 1e-8, 1e-6)).toBe('');
    const bx = Float64Array.of(bias);
    expect(compare([ref.dbias], fd((x) => mcheadObjective(hidden, pos, w, x[0]!, labels, groups, C, kind, k, scale), bx, [0]), 1e-8, 1e-6)).toBe('');
    // a summary position, another column of it, and a position no row summarises (gradient 0)
    const idxH = [pos[0]! * C + 1, pos[8]! * C + 60, 1 * T * C + 0 * C + 7];
    expect(compare(idxH.map((i) => ref.dhidden[i]!), fd((x) => mcheadObjective(x, pos, w, bias, labels, groups, C, kind, k, scale), hidden, idxH), 1e-8, 1e-6)).toBe('');
    expect(ref.dhidden[idxH[2]!]).toBe(0);
    expect(Math.max(...ref.dweight.map(Math.abs))).toBeGreaterThan(0.01);
  });
});

describe.each(PRECISIONS)('mchead kernels (%s)', (precision) => {
  const f16 = precision === 'f16';
  it.each(['softmax', 'sigmoid'] as Kind[])('%s: scores, losses, dweight, dbias, dhidden vs the CPU reference', async (kind) => {
    const gpu = await getGPU(precision);
    let hiddenHost = randn(B * T * C, 7, 2);
    if (f16) hiddenHost = roundToF16(hiddenHost);
    const wHost = randn(C, 8, 0.3);
    const biasHost = 0.1, scale = f16 ? 1024 : 1, k = dlossMean[kind];
    const ref = mcheadRef(hiddenHost, pos, wHost, biasHost, labels, groups, C, kind, k, scale);

    const hidden = gpu.tensor([B * T, C], precision, 'hidden', hiddenHost);
    const posT = gpu.tensor([pos.length], 'i32', 'pos', pos);
    const weight = gpu.tensor([C], 'f32', 'w', wHost);
    const bias = gpu.tensor([1], 'f32', 'b', [biasHost]);
    const scores = gpu.tensor([pos.length], 'f32', 'scores');
    const labelsT = gpu.tensor([pos.length], 'f32', 'labels', labels);
    const groupsT = gpu.tensor([groups.length], 'u32', 'groups', groups);
    const lossScale = gpu.tensor([1], 'f32', 'scale', [scale]);
    const losses = gpu.tensor([3], 'f32', 'losses');
    const dscores = gpu.tensor([pos.length], 'f32', 'dscores');
    const lossSum = gpu.tensor([1], 'f32', 'lossSum');
    // parameter gradients accumulate: start from 1 and expect 1 + gradient
    const dweight = gpu.tensor([C], 'f32', 'dw', new Float32Array(C).fill(1));
    const dbias = gpu.tensor([1], 'f32', 'db', [1]);
    const dhidden = gpu.tensor([B * T, C], precision, 'dhidden', new Float32Array(B * T * C).fill(5));

    const step = gpu.step('mchead');
    mcheadForward(step, scores, hidden, posT, weight, bias, pos.length, C);
    mcheadLoss(step, losses, dscores, lossSum, scores, labelsT, groupsT, lossScale, 3, kind, k);
    mcheadBackward(step, dhidden, dweight, dbias, dscores, hidden, posT, weight, pos.length, C);
    step.submit();

    expect(compare(await gpu.download(scores), ref.scores, 1e-5, 1e-5)).toBe('');
    expect(compare(await gpu.download(losses), ref.losses, 1e-5, 1e-5)).toBe('');
    expect((await gpu.download(lossSum))[0]).toBeCloseTo(ref.losses.reduce((a, b) => a + b, 0), 4);
    expect(compare(await gpu.download(dscores), ref.dscores, 1e-6 * scale, 1e-5)).toBe('');
    expect(compare(await gpu.download(dweight), ref.dweight.map((x) => 1 + x), 1e-5 * scale, 1e-5)).toBe('');
    expect(compare(await gpu.download(dbias), [1 + ref.dbias], 1e-5 * scale, 1e-5)).toBe('');
    // dhidden is stored in the model's precision: f16 rounding (1e-3 relative) with an absolute floor
    expect(compare(await gpu.download(dhidden), ref.dhidden, f16 ? 1e-4 * scale : 1e-7, f16 ? 2e-3 : 1e-5)).toBe('');
  });
});
