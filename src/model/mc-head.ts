// The multiple-choice / proposition head as a trainable unit: its parameters (HF names
// multiple_choice_head.summary.weight [1, C] and .bias [1]), AdamW state, the batch layout, and the
// recording of its forward, loss, backward and update inside the model's head step (GPT2.headStep).
//
// Batch layout: the options of many questions share one forward. Row b is one "question + option"
// sequence, right-padded to T with the end-of-text token; pos[b] = b*T + (its last token), where
// the head reads the hidden state; groups[q]..groups[q+1]-1 are question q's rows; labels[b] is 1
// for a correct option.
//
// Parameters live in one f32 tensor so one AdamW dispatch updates them: weight at [0, C), bias at
// P = C rounded up to 64 elements (a 256-byte aligned view); the elements between stay 0. The head
// has its own AdamW step count and gradient-norm clip (its norm is not added to the body's).

import type { GPUContext, Step } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { MQGError } from '../util/errors';
import type { AdamWOptions, GPT2 } from './gpt2';
import { mcheadBackward, mcheadForward, mcheadLoss } from '../kernels/mchead';
import { adamwUpdate, createAdamwHyper, createDecayMask, writeAdamwHyper } from '../kernels/adamw';
import { globalNormSquared, reduceScratchSize } from '../kernels/reduce';
import { Rng } from '../util/rng';
import { dropout } from '../kernels/dropout';
import { checkDropoutRate, DROPOUT_SITE } from './dropout';

export type HeadKind = 'multiple-choice' | 'proposition';
export const HEAD_KINDS: readonly HeadKind[] = ['multiple-choice', 'proposition'];
export const HEAD_WEIGHT = 'multiple_choice_head.summary.weight';
export const HEAD_BIAS = 'multiple_choice_head.summary.bias';

export interface HeadBatch {
  /** [B, T] token ids. */
  inputs: Int32Array;
  B: number;
  T: number;
  /** [B] flat index of each row's last token. */
  pos: Int32Array;
  /** [B] 1 = a correct option. */
  labels: Float32Array;
  /** [Q+1] row offsets of the questions. */
  groups: Uint32Array;
  Q: number;
}

/** Lay out questions' option rows (each at most T tokens) as one batch. */
export function headBatch(questions: readonly { readonly rows: readonly (readonly number[])[] }[], answers: readonly (readonly number[])[], T: number, pad: number): HeadBatch {
  const B = questions.reduce((n, q) => n + q.rows.length, 0);
  const inputs = new Int32Array(B * T).fill(pad);
  const pos = new Int32Array(B), labels = new Float32Array(B), groups = new Uint32Array(questions.length + 1);
  let b = 0;
  questions.forEach((q, i) => {
    groups[i] = b;
    q.rows.forEach((row, o) => {
      if (row.length > T || row.length === 0) throw new RangeError(`headBatch: a row of ${row.length} tokens does not fit T = ${T}`);
      inputs.set(row, b * T);
      pos[b] = b * T + row.length - 1;
      labels[b] = answers[i]!.includes(o) ? 1 : 0;
      b++;
    });
  });
  groups[questions.length] = B;
  return { inputs, B, T, pos, labels, groups, Q: questions.length };
}

export interface HeadTrainOptions {
  update: AdamWOptions;
  /** Also train the body (its backward from dlnf and its AdamW step); false = --freeze-body. */
  body: boolean;
  /** Test switch: no gradient leaves the loss (the head and the body get none), so nothing learns. */
  cutGradient?: boolean;
}

export class McHead {
  readonly C: number;
  private readonly P: number; // bias offset
  private readonly N: number;
  readonly params: Tensor;
  private readonly grads: Tensor;
  private readonly m: Tensor;
  private readonly v: Tensor;
  private readonly decay: Tensor;
  private readonly hyper: Tensor;
  private readonly normSq: Tensor;
  private readonly normScratch: Tensor;
  private readonly lossScale1: Tensor;
  private maxRows = 0;
  private maxQuestions = 0;
  private buf: Record<'pos' | 'labels' | 'groups' | 'scores' | 'dscores' | 'losses', Tensor> | undefined;
  private readonly lossSum: Tensor;
  /** AdamW step count of the head. */
  t = 0;

  /**
   * `summaryDropout`: HF's summary_first_dropout, dropout on the hidden state the head reads, in
   * training steps only (default 0).
   */
  constructor(readonly gpu: GPUContext, C: number, readonly kind: HeadKind, readonly summaryDropout = 0) {
    checkDropoutRate(summaryDropout, 'summary_first_dropout');
    this.C = C;
    this.P = Math.ceil(C / 64) * 64;
    this.N = this.P + 1;
    const z = () => new Float32Array(this.N);
    this.params = gpu.tensor([this.N], 'f32', 'mchead.params', z());
    this.grads = gpu.tensor([this.N], 'f32', 'mchead.grads', z());
    this.m = gpu.tensor([this.N], 'f32', 'mchead.m', z());
    this.v = gpu.tensor([this.N], 'f32', 'mchead.v', z());
    // weight decay on the weight, none on the bias (as for the body's biases)
    this.decay = createDecayMask(gpu, [{ offset: 0, length: C, decay: true }], this.N, 'mchead.decay');
    this.hyper = createAdamwHyper(gpu, 'mchead.hyper');
    this.normSq = gpu.tensor([1], 'f32', 'mchead.norm_sq');
    this.normScratch = gpu.tensor([reduceScratchSize(this.N)], 'f32', 'mchead.norm_scratch');
    this.lossSum = gpu.tensor([1], 'f32', 'mchead.loss_sum');
    this.lossScale1 = gpu.tensor([1], 'f32', 'mchead.unit_scale', [1]);
  }

  private get weight(): Tensor { return this.params.view([this.C], 0); }
  private get bias(): Tensor { return this.params.view([1], this.P); }

  /** GPT2DoubleHeadsModel's initialisation: weight N(0, 0.02), bias 0. */
  initRandom(seed = 1234): void {
    const rng = new Rng(seed);
    const w = new Float32Array(this.C);
    for (let i = 0; i < this.C; i++) w[i] = rng.normal(0, 0.02);
    this.load(w, new Float32Array(1));
  }

  load(weight: Float32Array, bias: Float32Array, source = 'checkpoint'): void {
    if (weight.length !== this.C) throw new MQGError(`${source}: "${HEAD_WEIGHT}" has ${weight.length} values; the model's width is ${this.C}`);
    if (bias.length !== 1) throw new MQGError(`${source}: "${HEAD_BIAS}" has ${bias.length} values; expected 1`);
    const all = new Float32Array(this.N);
    all.set(weight, 0);
    all[this.P] = bias[0]!;
    this.gpu.upload(this.params, all);
  }

  /** The head's tensors under their HF names and shapes. */
  async tensors(): Promise<{ name: string; shape: number[]; data: Float32Array }[]> {
    const all = (await this.gpu.download(this.params)) as Float32Array;
    return [
      { name: HEAD_WEIGHT, shape: [1, this.C], data: all.slice(0, this.C) },
      { name: HEAD_BIAS, shape: [1], data: all.slice(this.P, this.P + 1) },
    ];
  }

  /** AdamW moments for resume. */
  async optimizerState(): Promise<{ t: number; m: Float32Array; v: Float32Array }> {
    return { t: this.t, m: (await this.gpu.download(this.m)) as Float32Array, v: (await this.gpu.download(this.v)) as Float32Array };
  }

  loadOptimizerState(s: { t: number; m: Float32Array; v: Float32Array }): void {
    if (s.m.length !== this.N || s.v.length !== this.N) throw new MQGError(`head optimiser state has ${s.m.length} values; this head needs ${this.N}`);
    this.gpu.upload(this.m, s.m);
    this.gpu.upload(this.v, s.v);
    this.t = s.t;
  }

  private ensure(R: number, Q: number): NonNullable<McHead['buf']> {
    if (this.buf && R <= this.maxRows && Q <= this.maxQuestions) return this.buf;
    if (this.buf) for (const t of Object.values(this.buf)) t.buffer.destroy();
    this.maxRows = Math.max(R, this.maxRows);
    this.maxQuestions = Math.max(Q, this.maxQuestions);
    const g = this.gpu, r = this.maxRows, q = this.maxQuestions;
    this.buf = {
      pos: g.tensor([r], 'i32', 'mchead.pos'),
      labels: g.tensor([r], 'f32', 'mchead.labels'),
      groups: g.tensor([q + 1], 'u32', 'mchead.groups'),
      scores: g.tensor([r], 'f32', 'mchead.scores'),
      dscores: g.tensor([r], 'f32', 'mchead.dscores'),
      losses: g.tensor([q], 'f32', 'mchead.losses'),
    };
    return this.buf;
  }

  /**
   * Run the model and the head on a batch in one submit: scores for evaluation (no readback), or
   * with `train` also the backward and AdamW update of the head (and of the body unless frozen),
   * returning the mean loss (one readback; model.lastStep has the gradient norm and skip flag).
   * Read the scores with scores() afterwards.
   */
  async step(model: GPT2, batch: HeadBatch, train?: HeadTrainOptions): Promise<number> {
    if (model.config.nEmbd !== this.C) throw new MQGError(`the head is ${this.C} wide but the model's n_embd is ${model.config.nEmbd}`);
    const { B, T, Q } = batch;
    const b = this.ensure(B, Q);
    this.gpu.upload(b.pos.view([B], 0), batch.pos);
    this.gpu.upload(b.labels.view([B], 0), batch.labels);
    this.gpu.upload(b.groups.view([Q + 1], 0), batch.groups);
    const f16 = model.dtype === 'f16';
    const lossScale = f16 && train?.body ? model.lossScale : this.lossScale1;
    // mean over questions (softmax) or over propositions (sigmoid)
    const divisor = this.kind === 'proposition' ? B : Q;
    if (train) {
      this.t += 1;
      const u = train.update;
      writeAdamwHyper(this.gpu, this.hyper, {
        lr: u.lr, beta1: u.beta1 ?? 0.9, beta2: u.beta2 ?? 0.999, eps: u.eps ?? 1e-8, weightDecay: u.weightDecay ?? 0, t: this.t, gradClip: u.gradClip ?? 0,
      });
    }
    const C = this.C;
    // summary_first_dropout on the whole of ln_f's output (the head reads one row per option; the
    // body's backward reads ln_f's input, not its output), and on dlnf with the same mask.
    const record = (step: Step, lnf: Tensor, dlnf: Tensor) => {
      const summaryDraw = train && model.dropoutDraw(this.summaryDropout, DROPOUT_SITE.summary); // keyed by headStep
      const hidden = lnf.view([B * T, C], 0);
      if (summaryDraw) dropout(step, hidden, hidden, B * T * C, summaryDraw);
      mcheadForward(step, b.scores, hidden, b.pos, this.weight, this.bias, B, C);
      mcheadLoss(step, b.losses, b.dscores, this.lossSum, b.scores, b.labels, b.groups, lossScale, Q, this.kind === 'proposition' ? 'sigmoid' : 'softmax', 1 / divisor);
      if (!train) return { lossSum: this.lossSum, divisor };
      step.clear(this.grads);
      if (train.cutGradient) step.clear(b.dscores);
      mcheadBackward(step, train.body ? dlnf.view([B * T, C], 0) : null, this.grads.view([C], 0), this.grads.view([1], this.P), b.dscores, hidden, b.pos, this.weight, B, C);
      if (summaryDraw && train.body) dropout(step, dlnf.view([B * T, C], 0), dlnf.view([B * T, C], 0), B * T * C, summaryDraw);
      globalNormSquared(step, this.normSq, this.grads, this.N, this.normScratch);
      adamwUpdate(step, this.params, this.grads, this.m, this.v, null, this.decay, this.hyper, this.normSq, lossScale === this.lossScale1 ? null : lossScale, this.N);
      return { lossSum: this.lossSum, divisor, hyper: this.hyper };
    };
    // the head's step count keys the masks (this.t - 1 steps came before this one): it advances with
    // a frozen body too, and a resumed run restores it
    const keyed = train && { step: this.t - 1, head: this.summaryDropout > 0 };
    return model.headStep(batch.inputs, B, T, record, train?.body ? { first: true, update: train.update } : undefined, keyed);
  }

  /** Scores of the last step's rows (logits: higher = more likely correct). */
  async scores(R: number): Promise<Float32Array> {
    return ((await this.gpu.download(this.buf!.scores)) as Float32Array).slice(0, R);
  }

  /** Mean loss of the last step (per question, or per proposition for the proposition head). */
  async loss(batch: HeadBatch): Promise<number> {
    const sum = (await this.gpu.download(this.lossSum))[0]!;
    return sum / (this.kind === 'proposition' ? batch.B : batch.Q);
  }

  destroy(): void {
    if (this.buf) for (const t of Object.values(this.buf)) t.buffer.destroy();
    for (const t of [this.params, this.grads, this.m, this.v, this.decay, this.hyper, this.normSq, this.normScratch, this.lossSum, this.lossScale1]) t.buffer.destroy();
  }
}
