// Each learning-rate schedule's whole curve against its closed form, and the loop's use of it.
import { describe, expect, it } from 'vitest';
import { learningRate, type ScheduleName } from '../../src/train/schedule';

const base = { lr: 1e-3, minLr: 1e-4, warmup: 10, steps: 110 };
const closed: Record<ScheduleName, (s: number) => number> = {
  cosine: (s) => base.minLr + (base.lr - base.minLr) * 0.5 * (1 + Math.cos((Math.PI * (s - base.warmup)) / (base.steps - base.warmup))),
  linear: (s) => base.minLr + (base.lr - base.minLr) * (1 - (s - base.warmup) / (base.steps - base.warmup)),
  constant: () => base.lr,
};

describe.each(['cosine', 'linear', 'constant'] as const)('%s schedule', (schedule) => {
  const curve = Array.from({ length: base.steps }, (_, s) => learningRate(s, { ...base, schedule }));

  it('warms up linearly from lr/warmup to lr', () => {
    for (let s = 0; s < base.warmup; s++) expect(curve[s]).toBeCloseTo((base.lr * (s + 1)) / base.warmup, 15);
    expect(curve[base.warmup - 1]).toBe(base.lr);
  });

  it('follows its closed form after the warmup, every step', () => {
    for (let s = base.warmup; s < base.steps; s++) expect(Math.abs(curve[s]! - closed[schedule](s)), `step ${s}`).toBeLessThanOrEqual(1e-15);
  });

  it('has the landmarks of its shape', () => {
    const mid = base.warmup + (base.steps - base.warmup) / 2;
    if (schedule === 'constant') expect(new Set(curve.slice(base.warmup))).toEqual(new Set([base.lr]));
    else {
      expect(curve[base.warmup]).toBe(base.lr);
      expect(curve[mid]).toBeCloseTo((base.lr + base.minLr) / 2, 15); // both pass the midpoint halfway
      for (let s = base.warmup + 1; s < base.steps; s++) expect(curve[s]!).toBeLessThan(curve[s - 1]!);
      expect(learningRate(base.steps, { ...base, schedule })).toBeCloseTo(base.minLr, 15); // the end is minLr
      expect(learningRate(base.steps + 50, { ...base, schedule })).toBeCloseTo(base.minLr, 15); // and stays there
      // cosine stays above linear in the first half and below it in the second
      if (schedule === 'cosine') {
        const lin = (s: number) => learningRate(s, { ...base, schedule: 'linear' });
        expect(curve[base.warmup + 20]!).toBeGreaterThan(lin(base.warmup + 20));
        expect(curve[base.steps - 20]!).toBeLessThan(lin(base.steps - 20));
      }
    }
  });

  it('without warmup starts at lr', () => {
    expect(learningRate(0, { ...base, warmup: 0, schedule })).toBe(base.lr);
  });
});
