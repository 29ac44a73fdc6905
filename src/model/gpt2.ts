// GPT-2 on the GPU: a fixed graph with explicit forward and backward (llm.c's gpt2_forward /
// gpt2_backward), composed from the kernels in src/kernels.
//
// Gradient rule: parameter gradients accumulate (+=) and are zeroed only in zeroGrad(); activation
// gradients are overwritten (=), except `dresidual`, the residual stream, which accumulates.
//
// Precision f32: everything f32. Precision f16: f16 weights (a copy of the f32 master weights kept by
// AdamW), f16 activations and activation gradients, f32 accumulation in every kernel, f32 parameter
// gradients, AdamW moments and master weights, and dynamic loss scaling. The residual stream stays
// f32 at both precisions (encoded, the projections added to it, residual2, residual3 and its gradient dresidual),
// as Megatron-LM's fp32_residual_connection does: it is a running sum that LayerNorm rescales, so it
// may grow past f16's 65504 while every normalised activation stays small. In f16 it did (mqg-tiny at
// lr 0.5: |residual| reached 65504 at step 5); an overflowing forward cannot be cured by loss
// scaling (each step then overflows again and is skipped, for good).

import type { GPUContext, Step } from '../gpu/context';
import { DisposedError } from '../util/errors';
import { Tensor } from '../gpu/tensor';
import { MQGError } from '../util/errors';
import { type GPT2Config, attentionScale, paramShapes } from './config';
import { type Activation } from '../util/activation';
import { NORM_STRIDE, ParamStore } from './params';
import { ModelMemoryError } from '../util/errors';
import { memoryPlan } from './memory';
import { Rng } from '../util/rng';
import { encoderBackward, encoderForward, createEncoderBackwardPlan, type EncoderBackwardPlan } from '../kernels/encoder';
import { layernormBackward, layernormBackwardScratchSize, layernormForward, residualLayernormForward } from '../kernels/layernorm';
import { gemm, matmulBackward, matmulForward } from '../kernels/matmul';
import { autoTuneOnce } from '../kernels/tune/auto';
import { attentionBackward, attentionForward } from '../kernels/attention';
import { crossEntropyForwardBackward } from '../kernels/classifier';
import { globalNormSquared, lossScaleUpdate, reduceScratchSize, sumReduce } from '../kernels/reduce';
import { adamwUpdate, writeAdamwHyper, ADAMW_HYPER, ADAMW_HYPER_SIZE } from '../kernels/adamw';
import { LoraAdapters, type LoraOptions } from './lora';
import { baseGemm, type ActEpilogue, type BaseWeight } from '../kernels/lora';
import { QuantizedBase, quantizedBaseBytes, type QuantType } from './quantized';
import { LORA_MODULE_KINDS, type LoraConfig, type LoraModuleKind } from './peft';
import { dropout, type DropoutDraw } from '../kernels/dropout';
import { dropoutStreamKey } from '../util/philox';
import { DROPOUT_SITE, dropoutSite, modelDropout, type DropoutOptions, type DropoutRates } from './dropout';

/** AdamW settings of one update. Defaults: beta1 0.9, beta2 0.95, eps 1e-8, weightDecay 0.1 (on matmul weights and embeddings), gradClip 1. */
export interface AdamWOptions {
  /** Learning rate (required). */
  lr: number;
  /** First-moment decay. Default 0.9. */
  beta1?: number;
  /** Second-moment decay. Default 0.95. */
  beta2?: number;
  /** Denominator epsilon. Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay, applied to the parameters `ModelOptions.decay` selects. Default 0.1. */
  weightDecay?: number;
  /** Clip the global gradient L2 norm to this value; 0 turns clipping off. */
  gradClip?: number;
}

/** Dynamic loss scaling for f16 training: overflow skips the step and halves the scale; it doubles after `growthInterval` clean steps. */
export interface LossScaleOptions {
  /** Initial loss scale (f16 only). */
  initScale?: number;
  /** Clean steps before the scale doubles. */
  growthInterval?: number;
}

/** Layer-l activations saved by the forward pass for the backward pass. Shapes for (B, T). */
interface LayerActs {
  ln1: Tensor; // [B,T,C]
  ln1Mean: Tensor; // [B,T] f32
  ln1Rstd: Tensor; // [B,T] f32
  qkv: Tensor; // [B,T,3C]
  atty: Tensor; // [B,T,C]
  lse: Tensor; // [B,NH,T] f32
  residual2: Tensor; // [B,T,C] f32
  ln2: Tensor; // [B,T,C]
  ln2Mean: Tensor; // [B,T] f32
  ln2Rstd: Tensor; // [B,T] f32
  fch: Tensor; // [B,T,H] pre-activation (H = nInner)
  fchGelu: Tensor; // [B,T,H] after the activation
  residual3: Tensor; // [B,T,C] f32
}

interface Activations {
  B: number;
  T: number;
  inputs: Tensor; // [B,T] i32
  targets: Tensor; // [B,T] i32
  encoded: Tensor; // [B,T,C] f32 (residual stream)
  /** [B,T,C] f32: attproj, then fcproj, of each layer in turn; the backward needs neither, only their sums. */
  proj: Tensor;
  layers: LayerActs[];
  lnf: Tensor; // [B,T,C]
  lnfMean: Tensor; // [B,T] f32
  lnfRstd: Tensor; // [B,T] f32
  /** Logits for a chunk of rows [chunkRows, Vp]; overwritten by dlogits in training. */
  logits: Tensor;
  chunkRows: number;
  losses: Tensor; // [B,T] f32
  lossSum: Tensor; // [1] f32
  // gradients of activations (reused across layers)
  dresidual: Tensor; // [B,T,C] f32, accumulates along the residual stream
  /**
   * [B,T,C] f16, f16 models only: dresidual rounded to f16 by the layernorm backward that last
   * updated it, the dout of the c_proj matmuls (PyTorch AMP's grad of an f16 linear output is f16
   * too); half the loads of reading dresidual itself.
   */
  dresidualHalf?: Tensor;
  dlnf: Tensor; // [B,T,C]; also dln1/dln2/datty (all [B,T,C])
  dfch: Tensor; // [B,T,H]
  dqkv: Tensor; // [B,T,3C]
  delta: Tensor; // [B,NH,T] f32 attention backward scratch
  lnScratch: Tensor; // f32
  plan: EncoderBackwardPlan;
}

/**
 * What one training step reports (GPT2.lastStep), read back once per step: the loss sum, the AdamW
 * prologue's norm and skip flag and the loss scale travel in one small buffer copied in the step's
 * own submit.
 */
export interface StepStats {
  /** Mean loss of this (micro-)batch over its counted targets (targets -1 are not counted). */
  loss: number;
  /** Targets counted in `loss`. */
  targets: number;
  /**
   * Global L2 norm of the unscaled gradient before clipping, over the accumulated micro-batches;
   * non-finite when any gradient is (f32: stop; f16: the step was skipped). NaN on a micro-step
   * that took no AdamW update.
   */
  gradNorm: number;
  /** The AdamW update was skipped because the gradient was not finite (parameters and moments kept). */
  skipped: boolean;
  /** Whether this call ran an AdamW update. */
  updated: boolean;
  /** The loss scale this step's backward used (1 at precision f32). */
  lossScale: number;
}

/** Options of the GPT2 constructor (and of loadModel). Every field is optional. */
export interface ModelOptions {
  /** Storage precision; defaults to the context's. */
  precision?: 'f16' | 'f32';
  /** Refuse to allocate more than this many bytes of GPU memory (parameters + optimiser + activations). */
  maxMemoryBytes?: number;
  /** Which parameters get weight decay (default: matmul weights and embeddings). */
  decay?: (name: string) => boolean;
  /** false: weights and activations only, no gradients or optimiser state (sampling, evaluation). Default true. */
  training?: boolean;
  /** Cap on elements per parameter bank, below the device's per-binding limit (tests use it to force several banks). */
  maxBankElements?: number;
  // ---- LoRA and activation checkpointing (lora.ts)
  /**
   * Train LoRA adapters only (PEFT semantics, peft.ts): the base is frozen and kept at the storage
   * precision with no master copy, gradient or optimiser state; the adapters have f32 master
   * weights, gradients and AdamW moments. New adapters start as PEFT's (A random, B zero).
   */
  lora?: LoraOptions | LoraConfig;
  /** Keep only each block's input in training and recompute the block in backward. */
  checkpointActivations?: boolean;
  /**
   * Store the four matmul weights of each block GGML-quantized (quantized.ts: Q8_0 or Q4_0, blocks
   * of 32 along the input dimension), quantized as each weight is set or streams in. The base is
   * then frozen: only with `training: false` or `lora` (QLoRA). Embeddings, lm_head, layer norms
   * and biases stay at the storage precision; a weight whose input dimension is not a multiple of
   * 32 stays unquantized (`quantizedBase.skipped`).
   */
  quantize?: QuantType;
  /**
   * Dropout in training steps (dropout.ts): embd_pdrop, resid_pdrop, attn_pdrop (each default 0:
   * none) and the run seed the masks are keyed by. forward(), generation and evaluation never drop.
   */
  dropout?: DropoutOptions;
}

/** GPT-2 on the GPU: parameters in flat banks, explicit forward and backward (llm.c order), AdamW, a KV cache for generation. Parameters are addressed by Hugging Face names. Release it with `destroy()` or `using`; any later use throws DisposedError. */
export class GPT2 {
  /** The parameter banks (master weights, gradients, AdamW moments). @internal */
  readonly params: ParamStore;
  /** Whether gradients and optimiser state exist (ModelOptions.training). */
  readonly training: boolean;
  /** Storage precision of weights and activations. */
  readonly dtype: 'f16' | 'f32';
  /** AdamW step count t: one per update() call, including f16 steps skipped for overflow. */
  t = 0;
  /** CPU time of the last training step's batch upload, recording and submit (not GPU time). */
  lastEncodeMs = 0;
  /** Statistics of the last trainStep / microStep (undefined before the first). */
  lastStep: StepStats | undefined;
  /** [lossSum, skipped, gradNorm, lossScale] f32: what a training step reads back, in one copy. */
  private readonly stepStats: Tensor;
  /** Targets of the current batch that are not -1 (the loss's divisor). */
  private targetCount = 0;
  private acts: Activations | undefined;
  private readonly hyper: Tensor; // f32 AdamW hyper-parameters, written once per step
  private readonly normSq: Tensor; // [1] f32
  private readonly normScratch: Tensor;
  private readonly normParts: Tensor | undefined;
  /** [scale, goodSteps, growthInterval, lastStepSkipped] f32, on the GPU. */
  readonly lossScale: Tensor;
  private readonly maxMemoryBytes: number | undefined;
  /** LoRA adapters, when ModelOptions.lora is set: then they are the only trainable parameters. */
  readonly lora: LoraAdapters | undefined;
  /** The quantized block weights (ModelOptions.quantize), outside the parameter banks. */
  readonly quantizedBase: QuantizedBase | undefined;
  /** Whether backward recomputes each block from its saved input (ModelOptions.checkpointActivations). */
  readonly checkpointActivations: boolean;
  /** [2, C] f32 sink for the LayerNorm parameter gradients the frozen base does not keep. */
  private frozenLnGrads: Tensor | undefined;
  /** The body's dropout rates in training steps (ModelOptions.dropout). */
  readonly dropout: Readonly<DropoutRates>;
  /** The run seed dropout masks are keyed by. */
  readonly dropoutSeed: number;
  /** Key word 0 of the dropout masks of the training step being recorded; undefined: no dropout. */
  private dropKey: number | undefined;
  /** Micro-batch index within the current optimiser step (microStep). */
  private micro = 0;

  constructor(
    /** The context the model lives on. */
    readonly gpu: GPUContext,
    /** The architecture. */
    readonly config: GPT2Config,
    options: ModelOptions = {},
  ) {
    this.dtype = options.precision ?? gpu.precision;
    if (this.dtype === 'f16' && !gpu.hasF16) throw new MQGError('precision f16 needs the shader-f16 feature, which this device lacks');
    if (config.nEmbd % config.nHead) throw new MQGError(`n_embd ${config.nEmbd} is not divisible by n_head ${config.nHead}`);
    this.maxMemoryBytes = options.maxMemoryBytes;
    this.training = options.training ?? true;
    if (options.quantize) {
      if (this.training && !options.lora) throw new MQGError(`quantize ${options.quantize}: a quantized base is frozen: build the model with training: false, or train LoRA adapters on it (lora)`);
      this.quantizedBase = new QuantizedBase(gpu, config, options.quantize);
    }
    const shapes = paramShapes(config)
      .filter((p) => !this.quantizedBase?.has(p.name))
      .map((p) => (VOCAB_ROWS.has(p.name) ? { ...p, shape: [config.paddedVocabSize, config.nEmbd] } : p));
    this.checkpointActivations = !!options.checkpointActivations;
    const drop = modelDropout(options.dropout);
    this.dropout = Object.freeze(drop.rates);
    this.dropoutSeed = drop.seed;
    if (this.dropout.resid > 0 && config.nInner < config.nEmbd) {
      throw new MQGError(`resid_pdrop ${this.dropout.resid}: dropout on the projections needs n_inner (${config.nInner}) >= n_embd (${config.nEmbd}) for its scratch; train with resid_pdrop 0`);
    }
    if (options.lora) {
      this.lora = new LoraAdapters(gpu, config, options.lora, options.maxBankElements, this.training);
    }
    this.checkMemory(this.paramBytes(shapes) + (options.quantize ? quantizedBaseBytes(config, options.quantize) : 0), this.training ? 'parameters and optimiser state' : 'parameters');
    this.params = new ParamStore(gpu, shapes, this.dtype === 'f16', options.decay, options.maxBankElements, this.training && !this.lora);
    if (this.lora && this.training) this.frozenLnGrads = gpu.tensor([2, Math.ceil(config.nEmbd / 64) * 64], 'f32', 'frozen_ln_grads');
    this.hyper = gpu.tensor([ADAMW_HYPER_SIZE], 'f32', 'adamw_hyper');
    this.normSq = gpu.tensor([1], 'f32', 'grad_norm_sq');
    const trainBanks = this.trainable.banks;
    const largestBank = Math.max(...trainBanks.map((b) => b.numel));
    this.normScratch = gpu.tensor([reduceScratchSize(largestBank)], 'f32', 'norm_scratch');
    if (trainBanks.length > 1) this.normParts = gpu.tensor([trainBanks.length * NORM_STRIDE], 'f32', 'grad_norm_parts', new Float32Array(trainBanks.length * NORM_STRIDE));
    this.lossScale = gpu.tensor([4], 'f32', 'loss_scale', [1, 0, 2000, 0]);
    this.stepStats = gpu.tensor([4], 'f32', 'step_stats');
  }

  /** The parameters AdamW updates: the LoRA adapters when there are any, else the whole model. */
  get trainable(): ParamStore {
    return this.lora?.params ?? this.params;
  }

  private paramBytes(shapes: { shape: number[] }[]): number {
    const n = shapes.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
    if (this.lora && this.training) return n * (this.dtype === 'f16' ? 2 : 4) + this.lora.numel * LoraAdapters.BYTES_PER_PARAM;
    if (!this.training) return n * (this.dtype === 'f16' ? 2 : 4);
    return n * (16 + (this.dtype === 'f16' ? 2 : 0)); // master, grad, m, v (+ f16 copy)
  }

  private checkMemory(bytes: number, what: string): void {
    if (this.maxMemoryBytes !== undefined && bytes > this.maxMemoryBytes) {
      throw new ModelMemoryError(
        `${what} need ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${(this.maxMemoryBytes / 2 ** 20).toFixed(1)} MiB allowed (maxMemoryBytes)`,
      );
    }
  }

  // ------------------------------------------------------------------ weights

  /** GPT-2 initialisation: N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0, LayerNorm 1/0. */
  initRandom(seed = 1337): void {
    this.alive();
    const rng = new Rng(seed);
    const L = this.config.nLayer;
    for (const s of this.slots()) {
      const data = new Float32Array(s.numel);
      if (/ln_(1|2|f)\.weight$/.test(s.name)) data.fill(1);
      else if (s.name.endsWith('.weight')) {
        const std = /c_proj\.weight$/.test(s.name) ? 0.02 / Math.sqrt(2 * L) : 0.02;
        const rows = VOCAB_ROWS.has(s.name) ? this.config.vocabSize * this.config.nEmbd : s.numel;
        for (let i = 0; i < rows; i++) data[i] = rng.normal(0, std);
      }
      this.setParameter(s.name, data);
    }
  }

  /**
   * Load canonical-named f32 weights (HF layout, wte and lm_head with vocabSize rows). Every parameter
   * must be present (an untied model needs `lm_head.weight`; a tied one ignores it).
   */
  loadWeights(weights: ReadonlyMap<string, Float32Array>): void {
    this.alive();
    for (const s of this.slots()) {
      const w = weights.get(s.name);
      if (!w) throw new MQGError(`missing parameter "${s.name}"`);
      const expected = VOCAB_ROWS.has(s.name) ? this.config.vocabSize * this.config.nEmbd : s.numel;
      if (w.length !== expected && w.length !== s.numel) {
        throw new MQGError(`parameter "${s.name}" has ${w.length} values; expected ${expected}`);
      }
      this.setParameter(s.name, w);
    }
  }

  /** Every GPT-2 parameter (canonical name, shape on the GPU): the banks' slots, then the quantized weights. */
  private slots(): { name: string; numel: number }[] {
    const q = this.quantizedBase;
    if (!q) return this.params.slots;
    const quantized = paramShapes(this.config).filter((p) => q.has(p.name)).map((p) => ({ name: p.name, numel: p.shape[0]! * p.shape[1]! }));
    return [...this.params.slots, ...quantized];
  }

  /**
   * Set one parameter from f32 values (canonical name, HF layout): uploaded at the storage
   * precision, or quantized first when it is a quantized block weight. How loading streams
   * weights in (source/load.ts), one tensor at a time. @internal
   */
  setParameter(name: string, values: Float32Array): void {
    if (this.quantizedBase?.has(name)) this.quantizedBase.set(name, values);
    else this.params.set(name, values);
  }

  /** A block matmul weight as the kernels take it: the bank's tensor, or its quantized blocks. @internal */
  baseWeight(name: string): BaseWeight {
    return this.quantizedBase?.has(name) ? this.quantizedBase.weight(name) : this.params.weight(name);
  }

  /** Read every parameter back (f32 master weights, canonical names, wte without padding rows). */
  async weights(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    if (this.quantizedBase) throw new MQGError(`weights(): the block weights are stored ${this.quantizedBase.type}-quantized and their full-precision values are not kept (read them from the model's source)`);
    for (const s of this.params.slots) out.set(s.name, await this.parameter(s.name));
    return out;
  }

  private unpad(name: string, data: Float32Array): Float32Array {
    return VOCAB_ROWS.has(name) ? data.slice(0, this.config.vocabSize * this.config.nEmbd) : data;
  }

  /** A parameter's f32 master value by HF name (with or without `transformer.`). */
  async parameter(name: string): Promise<Float32Array> {
    this.alive();
    const n = canonical(name);
    if (this.lora && isLoraName(n)) return (await this.gpu.download(this.lora.params.master(n))) as Float32Array;
    if (this.quantizedBase?.has(n)) throw new MQGError(`parameter "${n}" is stored ${this.quantizedBase.type}-quantized: its full-precision values are not kept (read them from the model's source)`);
    return this.unpad(n, (await this.gpu.download(this.params.master(n))) as Float32Array);
  }

  /** A parameter's gradient by HF name: d(loss)/d(param) for the mean loss, loss scaling removed. */
  async gradient(name: string): Promise<Float32Array> {
    this.alive();
    this.requireTraining('gradient()');
    const n = canonical(name);
    const grads = this.lora && isLoraName(n) ? this.lora.params : this.params;
    const g = this.unpad(n, (await this.gpu.download(grads.grad(n))) as Float32Array);
    if (this.dtype === 'f16') {
      const scale = (await this.gpu.download(this.lossScale))[0]!;
      if (scale !== 1) for (let i = 0; i < g.length; i++) g[i]! /= scale;
    }
    return g;
  }

  // ------------------------------------------------------------------ activations

  /**
   * Allocate activations for batches of up to B*T tokens (T at most the context); done once and
   * re-used by every step. Smaller batches use views of the same buffers: activations are laid out
   * [B,T,...] row-major, so any (B', T') with B'*T' <= B*T is a prefix of each buffer.
   */
  allocate(B: number, T: number): void {
    this.alive();
    const { nLayer: L, nEmbd: C, nHead: NH, paddedVocabSize: Vp, nPositions, nInner: H } = this.config;
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1) throw new MQGError(`batch shape B=${B}, T=${T} must be positive integers`);
    if (T > nPositions) throw new MQGError(`sequence length ${T} exceeds the model's context ${nPositions}`);
    if (this.base && B * T <= this.base.B * this.base.T) return;
    this.freeActivations();
    const BT = B * T;
    const st = this.dtype;
    const g = this.gpu;
    const elt = st === 'f16' ? 2 : 4;
    const maxBinding = g.limits.maxStorageBufferBindingSize!;
    // Logits are computed in chunks of rows so no binding exceeds the device limit; chunk row
    // offsets are multiples of 128 so every view keeps 256-byte alignment.
    let chunkRows = Math.min(BT, Math.floor(maxBinding / (Vp * elt)));
    if (chunkRows < BT) chunkRows = Math.max(128, Math.floor(chunkRows / 128) * 128);
    if (chunkRows * Vp * elt > maxBinding) throw new ModelMemoryError(`a 128-row logits chunk (${Vp} columns) exceeds the per-binding limit of ${maxBinding} bytes`);
    // the same figures as `mqg plan` and the trainer's refusal (memory.ts)
    const planned = memoryPlan({ config: this.config, B, T, precision: st, training: this.training, generation: false, maxBindingBytes: maxBinding, lora: this.lora?.config, checkpointActivations: this.checkpointActivations, quantize: this.quantizedBase?.type }).total;
    this.checkMemory(planned, `parameters, optimiser state and activations for B=${B}, T=${T}`);
    for (const [what, n] of [['[B,T,n_inner]', BT * H * elt], ['[B,T,3C]', BT * 3 * C * elt]] as const) {
      if (n > maxBinding) throw new ModelMemoryError(`activation ${what} for B=${B}, T=${T} is ${n} bytes, over the ${maxBinding}-byte per-binding limit: use a smaller batch`);
    }
    const t = (shape: number[], label: string, dtype: 'f16' | 'f32' | 'i32' = st) => g.tensor(shape, dtype, label);
    const layers: LayerActs[] = [];
    for (let l = 0; l < L; l++) {
      if (this.checkpointActivations && l > 0) {
        // Checkpointing: one set of block activations for all blocks, each block's output kept.
        layers.push({ ...layers[0]!, residual3: t([B, T, C], `residual3.${l}`, 'f32') });
        continue;
      }
      layers.push({
        ln1: t([B, T, C], `ln1.${l}`),
        ln1Mean: t([B, T], `ln1_mean.${l}`, 'f32'),
        ln1Rstd: t([B, T], `ln1_rstd.${l}`, 'f32'),
        qkv: t([B, T, 3 * C], `qkv.${l}`),
        atty: t([B, T, C], `atty.${l}`),
        lse: t([B, NH, T], `lse.${l}`, 'f32'),
        residual2: t([B, T, C], `residual2.${l}`, 'f32'),
        ln2: t([B, T, C], `ln2.${l}`),
        ln2Mean: t([B, T], `ln2_mean.${l}`, 'f32'),
        ln2Rstd: t([B, T], `ln2_rstd.${l}`, 'f32'),
        fch: t([B, T, H], `fch.${l}`),
        fchGelu: t([B, T, H], `fch_gelu.${l}`),
        residual3: t([B, T, C], `residual3.${l}`, 'f32'),
      });
    }
    this.base = {
      B, T, layers, chunkRows,
      inputs: t([B, T], 'inputs', 'i32'),
      targets: t([B, T], 'targets', 'i32'),
      encoded: t([B, T, C], 'encoded', 'f32'),
      proj: t([B, T, C], 'proj', 'f32'),
      lnf: t([B, T, C], 'lnf'),
      lnfMean: t([B, T], 'lnf_mean', 'f32'),
      lnfRstd: t([B, T], 'lnf_rstd', 'f32'),
      logits: t([chunkRows, Vp], 'logits'),
      losses: t([B, T], 'losses', 'f32'),
      lossSum: t([1], 'loss_sum', 'f32'),
      dresidual: t([B, T, C], 'dresidual', 'f32'),
      dresidualHalf: st === 'f16' ? t([B, T, C], 'dresidual_f16', 'f16') : undefined,
      dlnf: t([B, T, C], 'dln'),
      dfch: t([B, T, H], 'dfch'),
      dqkv: t([B, T, 3 * C], 'dqkv'),
      delta: t([B, NH, T], 'att_delta', 'f32'),
      lnScratch: t([layernormBackwardScratchSize(BT, C)], 'ln_scratch', 'f32'),
      plan: createEncoderBackwardPlan(g, BT, Vp),
    };
    this.lossSumScratch = g.tensor([reduceScratchSize(BT)], 'f32', 'loss_scratch');
    this.lora?.allocate(BT, st);
    this.views.clear();
  }

  private base: Activations | undefined;
  private readonly views = new Map<string, Activations>();

  /**
   * Make the model ready for batches of up to B×T tokens: allocate the activations (allocate) and,
   * on the first use of this context, tune the kernels with per-adapter choices on this model's
   * shapes (autoTuneOnce: matmul once per adapter and driver, attention per head size, the row
   * kernels per width and vocabulary; progress on stderr; MQG_AUTOTUNE=0 skips it,
   * and so does vitest unless MQG_AUTOTUNE=1). Call it where a model is set up for training or
   * inference, before the first step.
   */
  async prepare(B: number, T: number): Promise<void> {
    this.allocate(B, T);
    await autoTuneOnce(this.gpu, this.config, B, T);
  }

  /** Activations shaped for (B, T): views of the allocated buffers (cached, so bind groups are too). */
  private use(B: number, T: number): Activations {
    this.allocate(B, T);
    const key = `${B}x${T}`;
    let v = this.views.get(key);
    if (v) return (this.acts = v);
    const a = this.base!;
    const NH = this.config.nHead;
    const head = (x: Tensor, shape: number[]) => x.view(shape, 0);
    const btx = (x: Tensor) => head(x, x.shape.length === 3 ? [B, T, x.shape[2]!] : [B, T]);
    const layers = a.layers.map((l) => {
      const o: Record<string, Tensor> = {};
      for (const [k, x] of Object.entries(l)) o[k] = k === 'lse' ? head(x, [B, NH, T]) : btx(x);
      return o as unknown as LayerActs;
    });
    v = {
      ...a, B, T, layers,
      inputs: btx(a.inputs), targets: btx(a.targets), encoded: btx(a.encoded), proj: btx(a.proj), lnf: btx(a.lnf),
      lnfMean: btx(a.lnfMean), lnfRstd: btx(a.lnfRstd), losses: btx(a.losses),
      dresidual: btx(a.dresidual), dresidualHalf: a.dresidualHalf && btx(a.dresidualHalf), dlnf: btx(a.dlnf), dfch: btx(a.dfch), dqkv: btx(a.dqkv),
      delta: head(a.delta, [B, NH, T]),
    };
    this.views.set(key, v);
    return (this.acts = v);
  }

  private lossSumScratch: Tensor | undefined;

  private freeActivations(): void {
    if (!this.base) return;
    const a = this.base;
    const all: (Tensor | undefined)[] = [a.inputs, a.targets, a.encoded, a.proj, a.lnf, a.lnfMean, a.lnfRstd, a.logits, a.losses, a.lossSum, a.dresidual, a.dresidualHalf, a.dlnf, a.dfch, a.dqkv, a.delta, a.lnScratch, this.lossSumScratch];
    for (const l of a.layers) all.push(...Object.values(l));
    for (const t of all) t?.buffer.destroy();
    a.plan.destroy?.();
    this.base = this.acts = undefined;
    this.views.clear();
  }

  /** Bytes of GPU memory by category. */
  memoryReport(): Record<string, number> {
    const sum = (ts: (Tensor | null | undefined)[]) => [...new Set(ts.map((t) => t?.buffer))].reduce((n, b) => n + (b ? b.size : 0), 0);
    const banks = [...this.params.banks, ...(this.lora?.params.banks ?? [])];
    const report: Record<string, number> = {
      parameters: sum(banks.map((b) => b.master)) + sum(banks.map((b) => b.lowp)) + (this.quantizedBase?.bytes ?? 0),
      gradients: sum(banks.map((b) => b.grad)),
      optimizer: sum(banks.flatMap((b) => [b.m, b.v])),
      activations: 0,
      activationGradients: 0,
    };
    const a = this.base;
    if (a) {
      report.activations = sum([a.encoded, a.proj, a.lnf, a.lnfMean, a.lnfRstd, a.logits, a.losses, ...a.layers.flatMap((l) => Object.values(l))]) + (this.lora?.activationBytes().activations ?? 0);
      report.activationGradients = sum([a.dresidual, a.dresidualHalf, a.dlnf, a.dfch, a.dqkv, a.delta, a.lnScratch]) + (this.lora?.activationBytes().gradients ?? 0);
    }
    report.total = Object.values(report).reduce((x, y) => x + y, 0);
    return report;
  }

  // ------------------------------------------------------------------ batches

  /** Validate and upload a batch. Token ids must be in [0, vocabSize); a target may be -1 (ignored: not in the loss). */
  setBatch(inputs: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number): void {
    this.alive();
    const a = this.use(B, T);
    const V = this.config.vocabSize;
    const check = (xs: ArrayLike<number>, what: string, allowIgnore: boolean) => {
      if (xs.length !== B * T) throw new MQGError(`${what}: ${xs.length} tokens for B*T = ${B}*${T} = ${B * T}`);
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i]!;
        if (!Number.isInteger(x) || x >= V || (x < 0 && !(allowIgnore && x === -1))) {
          throw new MQGError(`${what}: token id ${x} at position ${i} (row ${Math.floor(i / T)}, column ${i % T}) is outside the vocabulary [0, ${V})`);
        }
      }
    };
    check(inputs, 'inputs', false);
    const ids = Int32Array.from(inputs);
    this.gpu.upload(a.inputs, ids);
    a.plan.update(ids);
    if (targets) {
      check(targets, 'targets', true);
      const t = Int32Array.from(targets);
      this.gpu.upload(a.targets, t);
      this.targetCount = t.reduce((n, x) => n + (x === -1 ? 0 : 1), 0);
    }
  }

  // ------------------------------------------------------------------ forward

  private recordForward(step: Step): void {
    const a = this.acts!;
    const { B, T } = a;
    const { nLayer: L, nEmbd: C, layerNormEpsilon: eps } = this.config;
    const BT = B * T;
    const p = this.params;
    encoderForward(step, a.encoded, a.inputs, p.weight('wte.weight'), p.weight('wpe.weight'), B, T, C);
    this.drop(step, a.encoded, a.encoded, BT * C, this.dropout.embd, DROPOUT_SITE.embd);
    for (let l = 0; l < L; l++) this.recordBlock(step, l, l > 0);
    // the last block's residual3 = residual2 + fcproj, with ln_f in the same pass
    const last = a.layers[L - 1]!;
    residualLayernormForward(step, last.residual3, a.lnf, a.lnfMean, a.lnfRstd, last.residual2, a.proj, p.weight('ln_f.weight'), p.weight('ln_f.bias'), BT, C, eps);
  }

  /**
   * Block l's forward, from its input (the previous block's residual3) to its fcproj in a.proj; the
   * residual add that makes its residual3 happens in the next layernorm's pass (the next block's
   * ln_1, or ln_f). With `addInput`, this block's ln_1 first forms the previous block's residual3
   * (= its residual2 + the fcproj still in a.proj); without (block 0, or recomputing a checkpointed
   * block, whose input residual3 is kept), ln_1 reads that residual3.
   */
  private recordBlock(step: Step, l: number, addInput: boolean): void {
    const a = this.acts!;
    const { B, T } = a;
    const { nEmbd: C, nHead: NH, nInner: H, layerNormEpsilon: eps, activation } = this.config;
    const BT = B * T;
    const p = this.params;
    const x = a.layers[l]!;
    const residual = l === 0 ? a.encoded : a.layers[l - 1]!.residual3;
    const w = (n: string) => p.weight(`h.${l}.${n}`);
    if (addInput) {
      const prev = a.layers[l - 1]!;
      residualLayernormForward(step, residual, x.ln1, x.ln1Mean, x.ln1Rstd, prev.residual2, a.proj, w('ln_1.weight'), w('ln_1.bias'), BT, C, eps);
    } else {
      layernormForward(step, x.ln1, x.ln1Mean, x.ln1Rstd, residual, w('ln_1.weight'), w('ln_1.bias'), BT, C, eps);
    }
    this.linearForward(step, l, 'attn.c_attn', x.qkv, x.ln1, BT, C, 3 * C);
    attentionForward(step, x.atty, x.lse, x.qkv, B, T, C, NH, attentionScale(this.config, l), this.dropoutDraw(this.dropout.attn, DROPOUT_SITE.attnProbs, l));
    this.linearForward(step, l, 'attn.c_proj', a.proj, x.atty, BT, C, C); // attproj
    this.drop(step, a.proj, a.proj, BT * C, this.dropout.resid, DROPOUT_SITE.attnProj, l);
    // residual2 = residual + attproj, with ln_2 in the same pass
    residualLayernormForward(step, x.residual2, x.ln2, x.ln2Mean, x.ln2Rstd, residual, a.proj, w('ln_2.weight'), w('ln_2.bias'), BT, C, eps);
    fcForward(step, x.fchGelu, x.fch, x.ln2, this.baseWeight(`h.${l}.mlp.c_fc.weight`), w('mlp.c_fc.bias'), BT, C, H, activation,
      (out, act) => this.linearForward(step, l, 'mlp.c_fc', out, x.ln2, BT, C, H, act));
    this.linearForward(step, l, 'mlp.c_proj', a.proj, x.fchGelu, BT, H, C); // fcproj
    this.drop(step, a.proj, a.proj, BT * C, this.dropout.resid, DROPOUT_SITE.mlpProj, l);
  }

  /**
   * The draw of dropout site (kind, layer) at rate p in the training step being recorded; undefined
   * when this step does not drop or p is 0 (then nothing is recorded for it).
   * @internal for the heads and adapters recorded inside a step
   */
  dropoutDraw(p: number, kind: number, layer = 0): DropoutDraw | undefined {
    if (this.dropKey === undefined || p === 0) return undefined;
    return { p, key0: this.dropKey, site: dropoutSite(kind, layer) };
  }

  /** out = dropout(inp) at site (kind, layer) when this step drops there; false (nothing recorded) otherwise. */
  private drop(step: Step, out: Tensor, inp: Tensor, N: number, p: number, kind: number, layer = 0): boolean {
    const draw = this.dropoutDraw(p, kind, layer);
    if (!draw) return false;
    dropout(step, out, inp, N, draw);
    return true;
  }

  /** One Conv1D layer of block l: the LoRA-adapted form where the layer is adapted. */
  private linearForward(step: Step, l: number, kind: LoraModuleKind, out: Tensor, inp: Tensor, BT: number, C: number, OC: number, act?: ActEpilogue): void {
    const w = this.baseWeight(`h.${l}.${kind}.weight`);
    const b = this.params.weight(`h.${l}.${kind}.bias`);
    if (this.lora?.forward(step, l, kind, out, inp, w, b, BT, C, OC, act, this.loraDraw(l, kind))) return;
    if (w instanceof Tensor) matmulForward(step, out, inp, w, b, BT, C, OC, act);
    else baseGemm(step, out, inp, w, { M: BT, N: OC, K: C, bias: b, activation: act ? act.activation ?? 'gelu_new' : undefined, preact: act?.preact });
  }

  /** The lora_dropout draw of block l's `kind` adapter in this step (undefined: none). */
  private loraDraw(l: number, kind: LoraModuleKind): DropoutDraw | undefined {
    // only where the adapters train (a model built for evaluation keeps no scratch for it)
    return this.lora && this.training ? this.dropoutDraw(this.lora.config.loraDropout, DROPOUT_SITE.lora + LORA_MODULE_KINDS.indexOf(kind), l) : undefined;
  }

  /** Its backward: dinp overwritten; the weight and bias gradients only when the base trains. */
  private linearBackward(step: Step, l: number, kind: LoraModuleKind, dinp: Tensor | null, dout: Tensor, inp: Tensor, BT: number, C: number, OC: number, act?: ActEpilogue): void {
    const w = this.baseWeight(`h.${l}.${kind}.weight`);
    if (this.lora?.backward(step, l, kind, dinp, dout, inp, w, BT, C, OC, act, this.loraDraw(l, kind))) return;
    if (!(w instanceof Tensor)) {
      // a quantized base is frozen (LoRA): only dx = dy · deq(W)ᵀ, through the quantized kernel
      if (dinp) baseGemm(step, dinp, dout, w, { M: BT, N: C, K: OC, transB: true, dactivation: act ? act.activation ?? 'gelu_new' : undefined, preact: act?.preact });
      return;
    }
    const frozen = !!this.lora;
    matmulBackward(step, dinp, frozen ? null : this.params.grad(`h.${l}.${kind}.weight`), frozen ? null : this.params.grad(`h.${l}.${kind}.bias`), dout, inp, w, BT, C, OC, act);
  }

  /** LayerNorm parameter gradients: into the model's, or into a sink when the base is frozen. */
  private lnGrads(name: string): [Tensor, Tensor] {
    if (!this.lora) return [this.params.grad(`${name}.weight`), this.params.grad(`${name}.bias`)];
    const C = this.config.nEmbd;
    const sink = this.frozenLnGrads!;
    return [sink.view([C], 0), sink.view([C], sink.shape[1]!)];
  }

  /**
   * The lm_head and loss, chunk by chunk of rows: logits = lnf · Wᵀ (W = wte when tied, else lm_head),
   * then cross-entropy. With `backward`, the chunk's dlogits immediately give dlnf (= dlogits · W)
   * and dW (+= dlogitsᵀ · lnf).
   */
  private recordHead(step: Step, mode: 'loss' | 'train' | 'logits', dlossMean: number): void {
    const a = this.acts!;
    const { nEmbd: C, vocabSize: V, paddedVocabSize: Vp } = this.config;
    const BT = a.B * a.T;
    const head = headName(this.config);
    const wte = this.params.weight(head);
    for (let r0 = 0; r0 < BT; r0 += a.chunkRows) {
      const rows = Math.min(a.chunkRows, BT - r0);
      const lnf = a.lnf.view([rows, C], r0 * C);
      const logits = a.logits.view([rows, Vp], 0);
      gemm(step, logits, lnf, wte, { M: rows, N: Vp, K: C, transB: true });
      if (mode === 'logits') continue;
      crossEntropyForwardBackward(step, a.losses.view([rows], r0), logits, a.targets.view([rows], r0), this.lossScale.view([1], 0), rows, V, Vp, {
        backward: mode === 'train',
        dlossMean,
      });
      if (mode !== 'train') continue;
      gemm(step, a.dlnf.view([rows, C], r0 * C), logits, wte, { M: rows, N: C, K: Vp });
      if (!this.lora) gemm(step, this.params.grad(head), logits, lnf, { M: Vp, N: C, K: rows, transA: true, accumulate: true });
    }
    sumReduce(step, a.lossSum, a.losses, BT, this.lossSumScratch!);
  }

  private recordBackward(step: Step): void {
    const a = this.acts!;
    const { B, T } = a;
    const { nLayer: L, nEmbd: C, nHead: NH, nInner: H, activation } = this.config;
    const BT = B * T;
    const p = this.params;
    step.clear(a.dresidual);
    const lastResidual = a.layers[L - 1]!.residual3;
    const dres = a.dresidualHalf ?? a.dresidual; // what the c_proj matmuls read as dout
    layernormBackward(step, a.dresidual, ...this.lnGrads('ln_f'), a.lnScratch, a.dlnf, lastResidual, p.weight('ln_f.weight'), a.lnfMean, a.lnfRstd, BT, C, a.dresidualHalf);
    const dln = a.dlnf; // re-used as dln2, datty, dln1: each [B,T,C], consumed before the next is written
    for (let l = L - 1; l >= 0; l--) {
      // With activation checkpointing the blocks share one set of buffers: recompute this block's
      // (the last block's are still there from the forward pass).
      if (this.checkpointActivations && l < L - 1) this.recordBlock(step, l, false);
      const x = a.layers[l]!;
      const residual = l === 0 ? a.encoded : a.layers[l - 1]!.residual3;
      const w = (n: string) => p.weight(`h.${l}.${n}`);
      // residual3 = residual2 + fcproj: dresidual carries both
      // dfch = (dresidual · c_projᵀ) ⊙ act'(fch), the activation's backward fused into the matmul's epilogue
      // with resid_pdrop: d(fcproj) = dropout(dresidual), formed in dln (free until c_fc's backward)
      const dfcproj = this.drop(step, dln, dres, BT * C, this.dropout.resid, DROPOUT_SITE.mlpProj, l) ? dln : dres;
      this.linearBackward(step, l, 'mlp.c_proj', a.dfch, dfcproj, x.fchGelu, BT, H, C, { preact: x.fch, activation });
      this.linearBackward(step, l, 'mlp.c_fc', dln, a.dfch, x.ln2, BT, C, H);
      layernormBackward(step, a.dresidual, ...this.lnGrads(`h.${l}.ln_2`), a.lnScratch, dln, x.residual2, w('ln_2.weight'), x.ln2Mean, x.ln2Rstd, BT, C, a.dresidualHalf);
      // residual2 = residual + attproj
      // with resid_pdrop: d(attproj) = dropout(dresidual), formed in dfch's first [B,T,C] (consumed)
      const dattproj = a.dfch.view([B, T, C], 0);
      const dproj = this.drop(step, dattproj, dres, BT * C, this.dropout.resid, DROPOUT_SITE.attnProj, l) ? dattproj : dres;
      this.linearBackward(step, l, 'attn.c_proj', dln, dproj, x.atty, BT, C, C);
      attentionBackward(step, a.dqkv, a.delta, dln, x.atty, x.lse, x.qkv, B, T, C, NH, attentionScale(this.config, l), this.dropoutDraw(this.dropout.attn, DROPOUT_SITE.attnProbs, l));
      this.linearBackward(step, l, 'attn.c_attn', dln, a.dqkv, x.ln1, BT, C, 3 * C);
      // layer 0's ln_1 feeds only the encoder backward, which reads dresidual itself
      layernormBackward(step, a.dresidual, ...this.lnGrads(`h.${l}.ln_1`), a.lnScratch, dln, residual, w('ln_1.weight'), x.ln1Mean, x.ln1Rstd, BT, C, l > 0 ? a.dresidualHalf : undefined);
    }
    if (this.lora) return;
    // embd_pdrop: d(embedding) = dropout(dresidual), in place (nothing reads dresidual after)
    this.drop(step, a.dresidual, a.dresidual, BT * C, this.dropout.embd, DROPOUT_SITE.embd);
    encoderBackward(step, p.grad('wte.weight'), p.grad('wpe.weight'), a.dresidual, a.plan, B, T, C);
  }

  // ------------------------------------------------------------------ public steps

  /**
   * The loss divisor: the counted targets (not -1) of the current batch. A batch with none has loss
   * 0 and adds nothing to the gradients (divisor 1), rather than 0/0.
   */
  private get lossDivisor(): number {
    return Math.max(this.targetCount, 1);
  }

  /**
   * Forward pass: returns the mean loss over the counted targets (targets -1 are ignored) when
   * targets are given (else NaN). Keeps the logits readable.
   */
  async forward(inputs: ArrayLike<number>, targets: ArrayLike<number> | null, B: number, T: number): Promise<number> {
    this.setBatch(inputs, targets, B, T);
    this.dropKey = undefined; // evaluation: no dropout
    const step = this.gpu.step('forward');
    this.recordForward(step);
    this.recordHead(step, targets ? 'loss' : 'logits', 1 / this.lossDivisor);
    step.submit();
    this.forwardDone = { B, T, hasTargets: !!targets };
    if (!targets) return NaN;
    return (await this.gpu.download(this.acts!.lossSum))[0]! / this.lossDivisor;
  }

  private forwardDone: { B: number; T: number; hasTargets: boolean } | undefined;

  /** Logits of the last forward pass, [B*T, vocabSize] (padding columns removed). Needs B*T within one chunk. */
  async logits(): Promise<Float32Array> {
    const a = this.acts;
    if (!a || !this.forwardDone) throw new MQGError('logits(): run forward() first');
    const BT = a.B * a.T;
    if (BT > a.chunkRows) throw new MQGError(`logits(): ${BT} rows do not fit one logits chunk of ${a.chunkRows} rows`);
    const { vocabSize: V, paddedVocabSize: Vp } = this.config;
    const full = (await this.gpu.download(a.logits)) as Float32Array;
    const out = new Float32Array(BT * V);
    for (let r = 0; r < BT; r++) out.set(full.subarray(r * Vp, r * Vp + V), r * V);
    return out;
  }

  /** Per-position losses of the last forward pass, [B*T] (0 where the target was -1). */
  async positionLosses(): Promise<Float32Array> {
    if (!this.acts || !this.forwardDone?.hasTargets) throw new MQGError('positionLosses(): run forward() with targets first');
    return (await this.gpu.download(this.acts.losses)) as Float32Array;
  }

  /** Set every parameter gradient to zero (the one place gradients are zeroed). */
  zeroGrad(step?: Step): void {
    this.requireTraining('zeroGrad()');
    const s = step ?? this.gpu.step('zero_grad');
    for (const b of this.trainable.banks) s.clear(b.grad!);
    if (!step) s.submit();
  }

  /**
   * Backward pass for the batch of the last forward(): accumulates into the parameter gradients
   * (call zeroGrad() first to start fresh) the gradient of the batch's mean loss over its counted
   * targets, divided by `gradAccum` (see microStep for how accumulation normalises).
   */
  backward(gradAccum = 1): void {
    this.alive();
    this.requireTraining('backward()');
    const a = this.acts;
    if (!a || !this.forwardDone?.hasTargets) throw new MQGError('backward(): run forward() with targets first');
    const step = this.gpu.step('backward');
    // The classifier re-runs with its backward half (it overwrote nothing in forward()), then the rest.
    this.recordHead(step, 'train', 1 / (this.lossDivisor * gradAccum));
    this.recordBackward(step);
    step.submit();
  }

  /** One AdamW update over all parameters (one dispatch per parameter bank). */
  update(opts: AdamWOptions, step?: Step): void {
    this.alive();
    this.requireTraining('update()');
    this.writeHyper(opts);
    const s = step ?? this.gpu.step('update');
    this.recordUpdate(s);
    if (!step) s.submit();
  }

  private recordUpdate(s: Step): void {
    // The global norm covers all banks: reduce each into the scratch-backed total.
    const banks = this.trainable.banks;
    if (banks.length === 1) globalNormSquared(s, this.normSq, banks[0]!.grad!, banks[0]!.numel, this.normScratch);
    else {
      banks.forEach((b, i) => globalNormSquared(s, this.normParts!.view([1], i * NORM_STRIDE), b.grad!, b.numel, this.normScratch));
      sumReduce(s, this.normSq, this.normParts!, this.normParts!.numel, this.normScratch);
    }
    const scaleState = this.dtype === 'f16' ? this.lossScale : null;
    for (const b of banks) {
      adamwUpdate(s, b.master!, b.grad!, b.m!, b.v!, b.lowp, b.decayMask!, this.hyper, this.normSq, scaleState, b.numel);
    }
    if (scaleState) lossScaleUpdate(s, this.lossScale, this.normSq);
  }

  /**
   * One training step in one command encoder, submitted once: forward, loss, backward, AdamW.
   * Returns the step's mean loss (read back after the submit); `lastStep` has the rest.
   */
  async trainStep(inputs: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number, opts: AdamWOptions): Promise<number> {
    return this.microStep(inputs, targets, B, T, { first: true, update: opts, gradAccum: 1 });
  }

  /**
   * One micro-batch of a gradient-accumulation step, in one submit: `first` zeroes the gradients,
   * every micro-batch runs forward and backward (accumulating), and the micro-batch given `update`
   * also takes the AdamW step. Normalisation: each micro-batch contributes the gradient of its own
   * mean loss (over its counted targets) divided by gradAccum, so the step's gradient is that of the
   * average of the micro-batch means. That equals the gradient of the mean over all counted targets
   * of the step whenever the micro-batches count the same number of targets (always, without -1
   * targets): two micro-batches of B rows equal one batch of 2B rows. Returns the micro-batch's mean
   * loss; `lastStep` gets it with the gradient norm, skip flag and loss scale, from one readback.
   */
  async microStep(
    inputs: ArrayLike<number>, targets: ArrayLike<number>, B: number, T: number,
    o: { first: boolean; update?: AdamWOptions; gradAccum: number },
  ): Promise<number> {
    this.requireTraining('training steps');
    const t0 = performance.now();
    this.setBatch(inputs, targets, B, T);
    this.micro = o.first ? 0 : this.micro + 1;
    this.startDropout(this.t, this.micro);
    if (o.update) this.writeHyper(o.update);
    const step = this.gpu.step('train_step');
    if (o.first) this.zeroGrad(step);
    this.recordForward(step);
    this.recordHead(step, 'train', 1 / (this.lossDivisor * o.gradAccum));
    this.recordBackward(step);
    this.dropKey = undefined;
    const stats = this.stepStats;
    step.copy(this.acts!.lossSum, stats.view([1], 0));
    step.copy(this.lossScale.view([1], 0), stats.view([1], 3)); // the scale this backward used
    if (o.update) {
      this.recordUpdate(step);
      step.copy(this.hyper.view([2], ADAMW_HYPER.skipped), stats.view([2], 1)); // [skipped, gradNorm]
    }
    step.submit();
    this.lastEncodeMs = performance.now() - t0;
    this.forwardDone = undefined;
    const [lossSum, skipped, gradNorm, lossScale] = await this.gpu.download(stats);
    const loss = lossSum! / this.lossDivisor;
    this.lastStep = {
      loss, targets: this.targetCount, lossScale: lossScale!, updated: !!o.update,
      gradNorm: o.update ? gradNorm! : NaN, skipped: !!o.update && skipped !== 0,
    };
    return loss;
  }

  /**
   * Key this step's dropout masks by (run seed, optimiser step, micro-batch); no key (nothing drops)
   * when every rate is 0 and `head` (a head recorded in the step drops) is false.
   */
  private startDropout(stepIndex: number, micro: number, head = false): void {
    const any = this.dropout.embd > 0 || this.dropout.resid > 0 || this.dropout.attn > 0 || (this.lora?.config.loraDropout ?? 0) > 0 || head;
    this.dropKey = any ? dropoutStreamKey(this.dropoutSeed, stepIndex, micro) : undefined;
  }

  private writeHyper(opts: AdamWOptions): void {
    this.t += 1;
    writeAdamwHyper(this.gpu, this.hyper, {
      lr: opts.lr, beta1: opts.beta1 ?? 0.9, beta2: opts.beta2 ?? 0.999, eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 0, t: this.t, gradClip: opts.gradClip ?? 0,
    });
  }

  /**
   * Optimiser state as raw tensors: AdamW moments per bank, the f16 weight copy (so a resumed run
   * has bit-identical compute weights), and the loss-scale state. Master weights are saved apart.
   */
  async exportOptimizerState(): Promise<{ t: number; tensors: { name: string; dtype: 'F32' | 'F16'; shape: number[]; data: Uint8Array }[] }> {
    const tensors: { name: string; dtype: 'F32' | 'F16'; shape: number[]; data: Uint8Array }[] = [];
    const raw = async (name: string, t: Tensor) => {
      tensors.push({ name, dtype: t.dtype === 'f16' ? 'F16' : 'F32', shape: [t.numel], data: await this.gpu.readBytes(t.buffer, t.offset, t.byteLength) });
    };
    this.requireTraining('exportOptimizerState()');
    for (const [i, b] of this.trainable.banks.entries()) {
      await raw(`adam_m.${i}`, b.m!);
      await raw(`adam_v.${i}`, b.v!);
      if (b.lowp) await raw(`params_f16.${i}`, b.lowp);
    }
    await raw('loss_scale', this.lossScale);
    return { t: this.t, tensors };
  }

  /** Restore what exportOptimizerState returned (a resumed run continues bit for bit); `source` names it in errors. */
  importOptimizerState(t: number, tensors: ReadonlyMap<string, { shape: number[]; data: Uint8Array }>, source = 'optimizer state'): void {
    const put = (name: string, dst: Tensor) => {
      const src = tensors.get(name);
      if (!src) throw new MQGError(`${source}: missing tensor "${name}"`);
      if (src.data.byteLength !== dst.byteLength) {
        throw new MQGError(`${source}: tensor "${name}" has ${src.data.byteLength} bytes; this model needs ${dst.byteLength}`);
      }
      this.gpu.writeBytes(dst.buffer, dst.offset, src.data);
    };
    this.requireTraining('importOptimizerState()');
    for (const [i, b] of this.trainable.banks.entries()) {
      put(`adam_m.${i}`, b.m!);
      put(`adam_v.${i}`, b.v!);
      if (b.lowp) put(`params_f16.${i}`, b.lowp);
    }
    put('loss_scale', this.lossScale);
    this.t = t;
  }

  /** Configure dynamic loss scaling (precision f16). */
  setLossScale(opts: LossScaleOptions): void {
    this.gpu.upload(this.lossScale, [opts.initScale ?? 65536, 0, opts.growthInterval ?? 2000, 0]);
  }

  /** [scale, goodSteps, growthInterval, lastStepSkipped]. */
  async lossScaleState(): Promise<{ scale: number; goodSteps: number; growthInterval: number; skipped: boolean }> {
    const s = await this.gpu.download(this.lossScale);
    return { scale: s[0]!, goodSteps: s[1]!, growthInterval: s[2]!, skipped: s[3]! !== 0 };
  }

  private requireTraining(what: string): void {
    if (!this.training) throw new MQGError(`${what} needs gradients and optimiser state, but the model was built with training: false`);
  }

  // ------------------------------------------------------------------ hook: heads on ln_f (mqg finetune-mcq)

  /**
   * One step for a caller's head on the final hidden state, in one submit, without the LM head:
   * upload `inputs` [B,T], forward to ln_f, then `head(step, lnf, dlnf)` records the head on
   * lnf [B,T,C] (to train the body it writes d(loss)/d(lnf) into dlnf [B,T,C], zero where unused)
   * and returns its loss sum [1] f32, the loss's divisor, and the AdamW hyper tensor of its own
   * update if it took one. With `body`, the body's backward from dlnf follows (gradients zeroed first
   * when `body.first`) and, with `body.update`, the body's AdamW update. When anything trained,
   * `lastStep` is filled from one readback (gradient norm and skip flag: the body's update, else the
   * head's) and the mean loss returned; otherwise nothing is read back and NaN is returned.
   */
  async headStep(
    inputs: ArrayLike<number>, B: number, T: number,
    head: (step: Step, lnf: Tensor, dlnf: Tensor) => { lossSum: Tensor; divisor: number; hyper?: Tensor },
    body?: { first: boolean; update?: AdamWOptions },
    /**
     * A training step: its optimiser step index (and micro-batch) key the dropout masks, of the body
     * and of the head (`head`: the head drops, so the stream is keyed even if the body does not).
     * Undefined (evaluation): nothing drops.
     */
    train?: { step: number; micro?: number; head?: boolean },
  ): Promise<number> {
    this.alive();
    if (body) this.requireTraining('headStep() with body training');
    this.setBatch(inputs, null, B, T);
    if (train) this.startDropout(train.step, train.micro ?? 0, train.head);
    else this.dropKey = undefined;
    if (body?.update) this.writeHyper(body.update);
    const step = this.gpu.step('head_step');
    if (body?.first) this.zeroGrad(step);
    this.recordForward(step);
    const h = head(step, this.acts!.lnf, this.acts!.dlnf);
    if (body) this.recordBackward(step);
    this.dropKey = undefined;
    if (body?.update) this.recordUpdate(step);
    const updater = body?.update ? this.hyper : h.hyper;
    const stats = this.stepStats;
    if (body || updater) {
      step.copy(h.lossSum.view([1], 0), stats.view([1], 0));
      step.copy(this.lossScale.view([1], 0), stats.view([1], 3));
      if (updater) step.copy(updater.view([2], ADAMW_HYPER.skipped), stats.view([2], 1)); // [skipped, gradNorm]
    }
    step.submit();
    this.forwardDone = undefined;
    if (!body && !updater) return NaN;
    const [lossSum, skipped, gradNorm, lossScale] = await this.gpu.download(stats);
    const loss = lossSum! / h.divisor;
    this.lastStep = {
      loss, targets: h.divisor, lossScale: body ? lossScale! : 1, updated: !!updater,
      gradNorm: updater ? gradNorm! : NaN, skipped: !!updater && skipped !== 0,
    };
    return loss;
  }

  /** Free the model's GPU memory (weights, optimiser state, activations). Idempotent; any later use throws DisposedError. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.freeActivations();
    this.params.destroy();
    this.quantizedBase?.destroy();
    this.lora?.destroy();
    this.frozenLnGrads?.buffer.destroy();
    for (const t of [this.hyper, this.normSq, this.normScratch, this.normParts, this.lossScale, this.stepStats]) t?.buffer.destroy();
  }

  /** `using model = new GPT2(...)` destroys it at the end of the scope. */
  [Symbol.dispose](): void {
    this.destroy();
  }

  private destroyed = false;

  /** Throws DisposedError after destroy() (or the context's). */
  private alive(): void {
    if (this.destroyed) throw new DisposedError('this GPT2 model was destroyed; load or create it again');
    if (this.gpu.isDestroyed) throw new DisposedError('the GPUContext of this GPT2 model was destroyed');
  }
}

/** Parameters stored with paddedVocabSize rows on the GPU (zero padding) and vocabSize rows in files. */
const VOCAB_ROWS: ReadonlySet<string> = new Set(['wte.weight', 'lm_head.weight']);

/** The parameter the lm_head multiplies by: wte when tied, else the separate lm_head.weight. */
export function headName(config: GPT2Config): 'wte.weight' | 'lm_head.weight' {
  return config.tieWordEmbeddings ? 'wte.weight' : 'lm_head.weight';
}

/**
 * MLP up-projection and activation: preact[BT,H] = inp[BT,C] · weight[C,H] + bias[H] and
 * out = act(preact), the activation in the matmul's epilogue.
 */
export function fcForward(
  step: Step, out: Tensor, preact: Tensor, inp: Tensor, weight: BaseWeight, bias: Tensor, BT: number, C: number, H: number, activation: Activation,
  /** The projection itself (default matmulForward, or the quantized GEMM; the LoRA-adapted layer in a LoRA model). */
  linear: (out: Tensor, epilogue: { preact: Tensor; activation: Activation }) => void = (o, e) => baseGemm(step, o, inp, weight, { M: BT, N: H, K: C, bias, activation: e.activation, preact: e.preact }),
): void {
  linear(out, { preact, activation });
}

export function canonical(name: string): string {
  if (name.startsWith('base_model.model.')) name = name.slice('base_model.model.'.length); // PEFT
  return name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
}

const isLoraName = (n: string) => /\.lora_[AB]\.weight$/.test(n);
