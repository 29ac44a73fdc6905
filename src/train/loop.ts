// THE training loop: every command that trains (`mqg train`, `mqg finetune-mcq`, LoRA runs, the
// library's `train`) runs its optimiser steps through `trainLoop`. Browser-safe: no node: imports;
// files, checkpoints and resume live in the run lifecycle every caller shares (src/train/run.node.ts).
//
// One optimiser step = `gradAccum` micro-batches; each micro-batch is one submit (forward, loss,
// backward, and on the last one the AdamW update), then the step's statistics are read (one readback).
//
// Plugging in another task (a different loss, batch source or parameter set):
//   - `batches` is anything with `nextBatch()`: a DataLoader, an MCQ batcher, a fixed batch.
//   - `microStep(batch, o)` runs one micro-batch on YOUR model and returns its mean loss: zero the
//     gradients when `o.first`, divide the loss gradient by `o.gradAccum`, and take the AdamW step
//     with `o.update` when it is given (it is, on the last micro-batch only). The default,
//     `languageModelStep(model, B, T)`, is GPT-2 next-token prediction on `{ inputs, targets }`.
//   - `stats()` reports the step's gradient norm / skip flag / loss scale; the default reads
//     `model.lastStep` (or the GPT-2 AdamW state), so a task that steps a GPT2 needs nothing here.
//   - `evaluate`, `save` and `onStep` are hooks: the loop decides WHEN (every N steps, and a final
//     save), the caller decides WHAT. `shouldStop()` is polled between steps (Ctrl-C, a UI button).
// Non-finite values stop the run with a NonFiniteError naming the step and the newest checkpoint
// whose next step was finite ("the last good checkpoint"): in f32 at the first non-finite loss or
// gradient; in f16 at the first non-finite loss (a forward overflow) and, for non-finite gradients
// (which the loss scale makes routine), after more than `maxSkippedSteps` consecutive skipped updates.

import type { GPT2, AdamWOptions } from '../model/gpt2';
import { MQGError, NonFiniteError } from '../util/errors';
import { learningRate, type ScheduleOptions } from './schedule';

/** What one micro-batch call is asked to do. */
export interface MicroStepOptions {
  /** First micro-batch of the step: zero the gradients first. */
  first: boolean;
  /** Given on the last micro-batch: take the AdamW step with these settings after the backward. */
  update?: AdamWOptions;
  /** Micro-batches in this step: the loss gradient is divided by it. */
  gradAccum: number;
}

/** Runs one micro-batch and returns its mean loss. */
export type MicroStep<TBatch> = (batch: TBatch, o: MicroStepOptions) => Promise<number>;

/** After an optimiser step: what the update saw. */
export interface StepStats {
  /** Unscaled global gradient L2 norm (before clipping); NaN/Infinity when non-finite. */
  gradNorm: number;
  /** The update was skipped (non-finite gradient): weights, moments and copies kept their bits. */
  skipped: boolean;
  /** The loss scale the backward used (1 in f32). */
  lossScale: number;
}

/** The record of one optimiser step, given to onStep. */
export interface StepReport extends StepStats {
  /** 0-based index of the step (the number of updates before it). */
  step: number;
  /** Mean loss over the step's micro-batches. */
  loss: number;
  /** The learning rate used. */
  lr: number;
  /** Wall time of the step in milliseconds. */
  ms: number;
  /** Tokens processed in the step. */
  tokens: number;
  /** tokens / (ms / 1000). */
  tokensPerSecond: number;
  /** Consecutive skipped steps ending with this one. */
  skippedRun: number;
  /** Set on steps where evaluate ran. */
  valLoss?: number;
}

/** Options of `train` (trainLoop): model, batches, schedule, adamw and steps are required. */
export interface TrainLoopOptions<TBatch> {
  /** The model trained; the default microStep and stats use it. */
  model: GPT2;
  /** Where batches come from: anything with `nextBatch()` (a DataLoader, a fixed batch). */
  batches: { nextBatch(): TBatch };
  /** Default: languageModelStep(model, B, T) with B, T taken from `batches` (a DataLoader has them). */
  microStep?: MicroStep<TBatch>;
  /** Default: model.lastStep, else the GPT-2 AdamW state (one readback). */
  stats?: () => Promise<StepStats>;
  /** Learning rate per step: a schedule (see schedule.ts) or a function of the 0-based step. */
  schedule: ScheduleOptions | ((step: number) => number);
  /** AdamW settings other than the learning rate. */
  adamw: Omit<AdamWOptions, 'lr'>;
  /** Micro-batches per optimiser step. Default 1. */
  gradAccum?: number;
  /** Updates already done (a resumed run); the loop runs steps startStep .. steps-1. */
  startStep?: number;
  /** Total steps of the run (its end, not a count from startStep). */
  steps: number;
  /** Tokens per micro-batch, for the throughput figure (default B*T from `batches`, else 0). */
  tokensPerMicroBatch?: number;
  /** f16: stop after more than this many consecutive skipped updates (default 10). f32 stops at the first. */
  maxSkippedSteps?: number;
  /** Run `run(stepsDone)` every `every` steps; its result is the step's valLoss. Default none. */
  evaluate?: { every: number; run: (stepsDone: number) => Promise<number> };
  /** Called every `every` steps (0 = only at the end) and once at the end (`final`), also when stopped early.
   *  `lastGood` is the newest earlier save whose next step was finite: keep it when pruning old checkpoints. */
  save?: { every: number; run: (stepsDone: number, final: boolean, lastGood: number | undefined) => Promise<void> };
  /** Called after every optimiser step with its typed report. Default none. */
  onStep?: (r: StepReport) => void | Promise<void>;
  /** Polled before each step: true ends the run after the final save (an interrupt). */
  shouldStop?: () => boolean;
}

/** What `train` returns. */
export interface TrainLoopSummary {
  /** The step the run started from. */
  startStep: number;
  /** Updates done when the loop ended (the final checkpoint's step). */
  stepsDone: number;
  /** shouldStop() ended the run early. */
  interrupted: boolean;
  /** Every step's report. */
  history: StepReport[];
  /** Updates skipped for non-finite gradients (f16 overflow). */
  skippedSteps: number;
  /** The newest saved step whose next step was finite (or the start when it was a checkpoint). */
  lastGoodCheckpoint: number | undefined;
  /** Mean throughput over the run. */
  tokensPerSecond: number;
}

/** GPT-2 next-token prediction on `{ inputs, targets }` (B, T) batches: the fused one-submit step. */
export function languageModelStep(model: GPT2, B: number, T: number): MicroStep<{ inputs: ArrayLike<number>; targets: ArrayLike<number> }> {
  return (b, o) => model.microStep(b.inputs, b.targets, B, T, o);
}

/** The step statistics of a GPT2 after its update: model.lastStep, filled by the step's own readback. */
export async function gpt2StepStats(model: GPT2): Promise<StepStats> {
  const last = model.lastStep;
  if (!last || !last.updated) throw new MQGError('trainLoop: the model reports no AdamW update for this step (did microStep get `update` on the last micro-batch?)');
  return { gradNorm: last.gradNorm, skipped: last.skipped, lossScale: model.dtype === 'f16' ? last.lossScale : 1 };
}

/** The training loop every trainer uses: for each step, `gradAccum` micro-batches (each one submit), the AdamW update on the last, one readback of the step's statistics, then the hooks (onStep, evaluate, save). Works in Node and in browsers on in-memory data. Throws NonFiniteError on a non-finite loss or gradient. */
export async function trainLoop<TBatch>(o: TrainLoopOptions<TBatch>): Promise<TrainLoopSummary> {
  const { model, batches } = o;
  const gradAccum = o.gradAccum ?? 1;
  const startStep = o.startStep ?? 0;
  const maxSkipped = o.maxSkippedSteps ?? 10;
  if (!Number.isInteger(gradAccum) || gradAccum < 1) throw new MQGError(`trainLoop: gradAccum must be a positive integer, got ${gradAccum}`);
  if (!Number.isInteger(o.steps) || o.steps < 0) throw new MQGError(`trainLoop: steps must be a non-negative integer, got ${o.steps}`);
  const dims = batches as unknown as { B?: number; T?: number };
  let microStep = o.microStep;
  if (!microStep) {
    if (!dims.B || !dims.T) throw new MQGError('trainLoop: without a microStep, `batches` must have B and T (a DataLoader)');
    microStep = languageModelStep(model, dims.B, dims.T) as unknown as MicroStep<TBatch>;
    await model.prepare(dims.B, dims.T); // before the first step: allocates, and tunes at this adapter's first use
  }
  const tokensPerMicro = o.tokensPerMicroBatch ?? (dims.B && dims.T ? dims.B * dims.T : 0);
  const lrAt = typeof o.schedule === 'function' ? o.schedule : (s: number) => learningRate(s, o.schedule as ScheduleOptions);
  const stats = o.stats ?? (() => gpt2StepStats(model));

  const history: StepReport[] = [];
  let skippedRun = 0, skippedSteps = 0, tokensDone = 0;
  // A checkpoint at startStep exists when resuming; it is good once the next step is finite.
  let pendingSave: number | undefined = startStep > 0 ? startStep : undefined;
  let lastGood: number | undefined;
  const t0 = performance.now();
  let step = startStep;
  let interrupted = false;
  for (; step < o.steps; step++) {
    if (o.shouldStop?.()) {
      interrupted = true;
      break;
    }
    const lr = lrAt(step);
    const update: AdamWOptions = { ...o.adamw, lr };
    const ts = performance.now();
    let loss = 0;
    for (let micro = 0; micro < gradAccum; micro++) {
      const batch = batches.nextBatch();
      loss += await microStep(batch, { first: micro === 0, update: micro === gradAccum - 1 ? update : undefined, gradAccum });
    }
    loss /= gradAccum;
    const st = await stats();
    const ms = performance.now() - ts;
    const done = step + 1;
    const finite = Number.isFinite(loss) && Number.isFinite(st.gradNorm) && !st.skipped;
    if (finite) {
      skippedRun = 0;
      if (pendingSave !== undefined) lastGood = pendingSave;
      pendingSave = undefined;
    } else {
      skippedRun++;
      skippedSteps++;
    }
    const tokens = tokensPerMicro * gradAccum;
    tokensDone += tokens;
    const r: StepReport = { step, loss, lr, ms, tokens, tokensPerSecond: ms > 0 ? (tokens * 1000) / ms : 0, ...st, skippedRun };
    const f32 = model.dtype !== 'f16';
    // A non-finite loss comes from the forward pass, which the loss scale does not touch: stop at
    // once in f16 too (its weights are finite, since a non-finite gradient skips the update, so an
    // activation passed the f16 range). A non-finite gradient with a finite loss is what dynamic loss
    // scaling rides out in f16: stop only after a run of them.
    const lossBad = !Number.isFinite(loss);
    if (!finite && (f32 || lossBad || skippedRun > maxSkipped)) {
      history.push(r);
      await o.onStep?.(r);
      const what = lossBad ? `loss is ${loss}` : `the gradient norm is ${st.gradNorm}`;
      const why = f32 || lossBad
        ? `${what} at step ${done}${!f32 ? ' (the f16 forward pass overflowed: an activation passed the f16 range, which the loss scale cannot help; train in f32 or with a lower learning rate)' : ''}`
        : `${skippedRun} consecutive steps skipped for non-finite gradients (the last at step ${done}, ${what}; --max-skipped-steps ${maxSkipped})`;
      throw new NonFiniteError(why, done, lastGood);
    }
    if (o.evaluate && o.evaluate.every > 0 && (done % o.evaluate.every === 0 || done === o.steps)) r.valLoss = await o.evaluate.run(done);
    history.push(r);
    await o.onStep?.(r);
    if (o.save && o.save.every > 0 && done % o.save.every === 0 && done < o.steps) {
      await o.save.run(done, false, lastGood);
      pendingSave = done;
    }
  }
  if (o.save && (step > startStep || interrupted)) await o.save.run(step, true, lastGood);
  const secs = (performance.now() - t0) / 1000;
  return { startStep, stepsDone: step, interrupted, history, skippedSteps, lastGoodCheckpoint: lastGood, tokensPerSecond: tokensDone / Math.max(1e-9, secs) };
}
