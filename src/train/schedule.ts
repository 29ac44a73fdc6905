// Learning-rate schedules: linear warmup from 0, then cosine, linear or constant decay to minLr.

/** Decay after warmup: cosine or linear to minLr, or constant. */
export type ScheduleName = 'cosine' | 'linear' | 'constant';

/** A learning-rate schedule: linear warmup from 0 to lr, then decay to minLr by the last step. */
export interface ScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  /** Learning rate at the last step. */
  minLr: number;
  /** Warmup steps (0 = none). */
  warmup: number;
  /** Total steps of the run. */
  steps: number;
  /** The decay shape. */
  schedule: ScheduleName;
}

/** The learning rate of update `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (o.warmup > 0 && step < o.warmup) return (o.lr * (step + 1)) / o.warmup;
  if (o.schedule === 'constant') return o.lr;
  const span = Math.max(1, o.steps - o.warmup);
  const frac = Math.min(1, Math.max(0, (step - o.warmup) / span));
  const decay = o.schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * frac)) : 1 - frac;
  return o.minLr + (o.lr - o.minLr) * decay;
}
