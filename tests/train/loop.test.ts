// The shared training loop's contract, with a scripted model (no GPU): micro-batch flags, schedule,
// eval/save cadence, interrupts, and the non-finite rules (f32: stop at once; f16: after a run of
// skipped steps) with "the last good checkpoint" = the newest save whose next step was finite.
import { describe, expect, it } from 'vitest';
import { trainLoop, type MicroStepOptions, type StepStats, type TrainLoopOptions } from '../../src/train/loop';
import { NonFiniteError } from '../../src/util/errors';
import type { GPT2 } from '../../src/model/gpt2';

/** A scripted run: per step, the loss and the stats the "model" reports. */
function scripted(dtype: 'f16' | 'f32', script: (step: number) => { loss: number; stats: StepStats }) {
  const calls: MicroStepOptions[] = [];
  let step = 0;
  const saves: [number, boolean, number | undefined][] = [];
  const o: TrainLoopOptions<number> = {
    model: { dtype } as unknown as GPT2,
    batches: { nextBatch: () => step },
    microStep: async (_b, m) => {
      calls.push(m);
      const loss = script(step).loss;
      if (m.update) step++;
      return loss;
    },
    stats: async () => script(step - 1).stats,
    schedule: { lr: 1, minLr: 0, warmup: 0, steps: 10, schedule: 'linear' },
    adamw: { beta1: 0.9 },
    steps: 10,
    save: { every: 1, run: async (s, final, good) => void saves.push([s, final, good]) },
  };
  return { o, calls, saves };
}
const ok = (loss = 1): { loss: number; stats: StepStats } => ({ loss, stats: { gradNorm: 1, skipped: false, lossScale: 1 } });
const bad = (loss = 1, gradNorm = Number.POSITIVE_INFINITY): { loss: number; stats: StepStats } => ({ loss, stats: { gradNorm, skipped: true, lossScale: 1 } });

describe('trainLoop', () => {
  it('runs gradAccum micro-batches per step, the update on the last, with the schedule\'s lr', async () => {
    const { o, calls } = scripted('f32', () => ok());
    const evals: number[] = [];
    const r = await trainLoop({ ...o, gradAccum: 3, steps: 4, schedule: { lr: 1, minLr: 0, warmup: 0, steps: 4, schedule: 'linear' }, evaluate: { every: 2, run: async (s) => (evals.push(s), 0.5) } });
    expect(calls.map((c) => [c.first, !!c.update, c.gradAccum])).toEqual(Array.from({ length: 4 }, () => [[true, false, 3], [false, false, 3], [false, true, 3]]).flat());
    expect(calls.filter((c) => c.update).map((c) => c.update!.lr)).toEqual([1, 0.75, 0.5, 0.25]);
    expect(calls[2]!.update!.beta1).toBe(0.9);
    expect(evals).toEqual([2, 4]);
    expect(r.history.map((h) => h.valLoss)).toEqual([undefined, 0.5, undefined, 0.5]);
    expect([r.stepsDone, r.interrupted]).toEqual([4, false]);
  });

  it('resumes at startStep and saves on its cadence plus once at the end; an interrupt saves and stops', async () => {
    const { o, saves } = scripted('f32', () => ok());
    await trainLoop({ ...o, startStep: 7, save: { every: 2, run: o.save!.run } });
    expect(saves.map((s) => s.slice(0, 2))).toEqual([[8, false], [10, true]]);
    const x = scripted('f32', () => ok());
    let n = 0;
    const r = await trainLoop({ ...x.o, shouldStop: () => n++ >= 3 });
    expect([r.stepsDone, r.interrupted]).toEqual([3, true]);
    expect(x.saves.at(-1)!.slice(0, 2)).toEqual([3, true]);
  });

  it('f32 stops at the first non-finite gradient (with a finite loss), naming the last good checkpoint', async () => {
    const { o, saves } = scripted('f32', (s) => (s === 4 ? bad(2.5) : ok()));
    const p = trainLoop(o);
    await expect(p).rejects.toThrow(NonFiniteError);
    await expect(trainLoop(scripted('f32', (s) => (s === 4 ? bad(2.5) : ok())).o)).rejects.toThrow('the gradient norm is Infinity at step 5');
    // saves after steps 1..4; step 5 failed, so checkpoint 4 (whose next step is step 5) is not good: 3 is
    const e = await trainLoop(scripted('f32', (s) => (s === 4 ? bad(2.5) : ok())).o).catch((x: unknown) => x) as NonFiniteError;
    expect([e.step, e.lastGoodCheckpoint]).toEqual([5, 3]);
    expect(saves.map((s) => s[0])).toEqual([1, 2, 3, 4]);
    expect(saves.map((s) => s[2])).toEqual([undefined, 1, 2, 3]); // what a save may not prune
    await expect(trainLoop(scripted('f32', (s) => (s === 0 ? { loss: NaN, stats: { gradNorm: NaN, skipped: true, lossScale: 1 } } : ok())).o)).rejects.toThrow('loss is NaN at step 1');
  });

  it('f16 rides out skipped steps, reports each, and stops after more than maxSkippedSteps in a row', async () => {
    const reports: [number, boolean, number][] = [];
    const { o } = scripted('f16', (s) => (s >= 2 && s < 5 ? bad() : ok()));
    const r = await trainLoop({ ...o, onStep: (x) => void reports.push([x.step, x.skipped, x.skippedRun]) });
    expect(r.skippedSteps).toBe(3);
    expect(reports.slice(1, 6)).toEqual([[1, false, 0], [2, true, 1], [3, true, 2], [4, true, 3], [5, false, 0]]);
    const stop = scripted('f16', (s) => (s >= 1 ? bad() : ok()));
    const e = await trainLoop({ ...stop.o, maxSkippedSteps: 3 }).catch((x: unknown) => x) as NonFiniteError;
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toBe('4 consecutive steps skipped for non-finite gradients (the last at step 5, the gradient norm is Infinity; --max-skipped-steps 3)');
    expect(e.lastGoodCheckpoint).toBeUndefined(); // checkpoint 1's next step was skipped
    // a non-finite loss is a forward overflow, which no loss scale helps: f16 stops at once
    const nan = await trainLoop(scripted('f16', (s) => (s === 3 ? { loss: NaN, stats: { gradNorm: NaN, skipped: true, lossScale: 512 } } : ok())).o).catch((x: unknown) => x) as NonFiniteError;
    expect([nan.step, nan.lastGoodCheckpoint]).toEqual([4, 2]);
    expect(nan.message).toMatch(/^loss is NaN at step 4 \(the f16 forward pass overflowed: an activation passed the f16 range/);
  });
});
