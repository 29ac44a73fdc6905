// LoRA adapters of a GPT-2 on the GPU: the trainable part of a model whose base is frozen.
//
// Parameters: for each adapted module (peft.ts loraModules), lora_A [r, in] and lora_B [out, r] in
// their own ParamStore (f32 master weights, f32 gradients, AdamW moments; no f16 copy: the LoRA
// kernels read the f32 weights), named `h.<l>.<kind>.lora_A.weight` / `.lora_B.weight`.
// Activations: u = s·x·Aᵀ [BT, r] f32 per adapted module (saved for dB), and one dv [BT, r] scratch;
// with lora_dropout in training, one xd [BT, widest input] scratch (storage dtype) for the dropped
// input, drawn again in the backward.
// The base model (gpt2.ts) stays in f16 (f32 without shader-f16), with no master copy, gradient or
// optimiser state; or its block weights are GGML-quantized (ModelOptions.quantize, QLoRA's recipe).

import type { GPUContext, Step } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { MQGError } from '../util/errors';
import { loraBackward, loraForward, type ActEpilogue, type BaseWeight, type LoraInputDropout, type LoraWeightsGPU } from '../kernels/lora';
import type { DropoutDraw } from '../kernels/dropout';
import { Rng } from '../util/rng';
import type { GPT2Config } from './config';
import { ParamStore } from './params';
import { loraModules, loraScale, validateLoraConfig, type LoraConfig, type LoraModule, type LoraModuleKind, type LoraWeights } from './peft';

/** LoRA as ModelOptions.lora takes it: PEFT's config fields in our naming. */
export interface LoraOptions {
  /** Rank of the adapters. */
  r: number;
  /** The low-rank product is scaled by alpha / r (PEFT `lora_alpha`). */
  alpha: number;
  /** PEFT target_modules: module-name suffixes (c_attn, attn.c_proj, c_fc, mlp.c_proj), or one regular expression. */
  targets: string[] | string;
  /** PEFT lora_dropout: dropout on each adapter's input in training steps (default 0). */
  dropout?: number;
  /** Written to adapter_config.json's base_model_name_or_path. */
  baseModel?: string | null;
}

export function loraConfigFromOptions(o: LoraOptions | LoraConfig): LoraConfig {
  if ('loraAlpha' in o) return o;
  return { r: o.r, loraAlpha: o.alpha, targetModules: o.targets, loraDropout: o.dropout ?? 0, baseModelNameOrPath: o.baseModel ?? null, taskType: 'CAUSAL_LM' };
}

interface Adapted {
  module: LoraModule;
  A: string; // parameter names in the store
  B: string;
  u: Tensor | undefined; // [BT, r] f32, from allocate()
}

export class LoraAdapters {
  readonly config: LoraConfig;
  readonly modules: LoraModule[];
  readonly params: ParamStore;
  readonly scale: number;
  private readonly byKey = new Map<string, Adapted>();
  private dv: Tensor | undefined;
  /** [BT, widest input] storage dtype: the dropped input (lora_dropout in training). */
  private xd: Tensor | undefined;
  private BT = 0;

  constructor(readonly gpu: GPUContext, model: GPT2Config, options: LoraOptions | LoraConfig, maxBankElements?: number, private readonly training = true) {
    this.config = loraConfigFromOptions(options);
    validateLoraConfig(this.config, 'LoRA options');
    this.modules = loraModules(model, this.config, 'LoRA options');
    this.scale = loraScale(this.config);
    const r = this.config.r;
    const shapes: { name: string; shape: number[] }[] = [];
    for (const m of this.modules) {
      const base = `h.${m.layer}.${m.kind}`;
      shapes.push({ name: `${base}.lora_A.weight`, shape: [r, m.inFeatures] }, { name: `${base}.lora_B.weight`, shape: [m.outFeatures, r] });
      this.byKey.set(base, { module: m, A: `${base}.lora_A.weight`, B: `${base}.lora_B.weight`, u: undefined });
    }
    this.params = new ParamStore(gpu, shapes, false, undefined, maxBankElements, training);
    this.initRandom();
  }

  /** Bytes of a LoRA model's trainable state per adapter element: master, grad, m, v (f32). */
  static readonly BYTES_PER_PARAM = 16;

  get numel(): number {
    return this.params.slots.reduce((a, s) => a + s.numel, 0);
  }

  /** PEFT's default initialisation: A ~ kaiming_uniform(a=√5) = U(±1/√in), B = 0 (so the adapted model starts as the base). */
  initRandom(seed = 1337): void {
    const rng = new Rng(seed);
    for (const a of this.byKey.values()) {
      const bound = 1 / Math.sqrt(a.module.inFeatures);
      const A = new Float32Array(this.config.r * a.module.inFeatures);
      for (let i = 0; i < A.length; i++) A[i] = (rng.random() * 2 - 1) * bound;
      this.params.set(a.A, A);
      this.params.set(a.B, new Float32Array(a.module.outFeatures * this.config.r));
    }
  }

  /** Load PEFT weights (by HF module name); every adapted module must be present. */
  load(weights: LoraWeights): void {
    for (const a of this.byKey.values()) {
      const w = weights.get(a.module.module);
      if (!w) throw new MQGError(`adapter weights lack module "${a.module.module}"`);
      this.params.set(a.A, w.A);
      this.params.set(a.B, w.B);
    }
  }

  /** Read the adapter back (f32 master weights), by HF module name in block order. */
  async weights(): Promise<LoraWeights> {
    const out: LoraWeights = new Map();
    for (const a of this.byKey.values()) {
      out.set(a.module.module, {
        A: (await this.gpu.download(this.params.master(a.A))) as Float32Array,
        B: (await this.gpu.download(this.params.master(a.B))) as Float32Array,
      });
    }
    return out;
  }

  /** Allocate u per module, the dv scratch (and with lora_dropout the xd scratch, `dtype`) for up to BT rows (once; smaller batches use prefixes). */
  allocate(BT: number, dtype: 'f16' | 'f32' = 'f32'): void {
    if (BT <= this.BT) return;
    this.free();
    const r = this.config.r;
    for (const a of this.byKey.values()) a.u = this.gpu.tensor([BT, r], 'f32', `lora_u.${a.module.module}`);
    this.dv = this.gpu.tensor([BT, r], 'f32', 'lora_dv');
    if (this.training && this.config.loraDropout > 0) this.xd = this.gpu.tensor([BT, loraDropoutWidth(this.modules)], dtype, 'lora_dropped_input');
    this.BT = BT;
  }

  /** Bytes of the saved u buffers and the xd scratch (activations) and of the dv scratch (an activation gradient). */
  activationBytes(): { activations: number; gradients: number } {
    const u = [...this.byKey.values()].reduce((n, a) => n + (a.u?.buffer.size ?? 0), 0);
    return { activations: u + (this.xd?.buffer.size ?? 0), gradients: this.dv?.buffer.size ?? 0 };
  }

  /** The input dropout of a layer with this draw (undefined: none). */
  private inputDropout(draw: DropoutDraw | undefined): LoraInputDropout | undefined {
    if (!draw) return undefined;
    if (!this.xd) throw new MQGError('LoRA dropout: the adapters were built without lora_dropout or for evaluation');
    return { draw, xd: this.xd };
  }

  private adapted(layer: number, kind: LoraModuleKind): Adapted | undefined {
    return this.byKey.get(`h.${layer}.${kind}`);
  }

  private gpuWeights(a: Adapted): LoraWeightsGPU {
    return { A: this.params.master(a.A), B: this.params.master(a.B), r: this.config.r, scale: this.scale };
  }

  /** Whether this layer is adapted. */
  has(layer: number, kind: LoraModuleKind): boolean {
    return this.byKey.has(`h.${layer}.${kind}`);
  }

  /** The adapted forward of one layer (see kernels/lora.ts); false if the layer is not adapted. */
  forward(step: Step, layer: number, kind: LoraModuleKind, out: Tensor, inp: Tensor, weight: BaseWeight, bias: Tensor | null, BT: number, C: number, OC: number, act?: ActEpilogue, drop?: DropoutDraw): boolean {
    const a = this.adapted(layer, kind);
    if (!a) return false;
    loraForward(step, out, a.u!.view([BT, this.config.r]), inp, weight, bias, this.gpuWeights(a), BT, C, OC, act, this.inputDropout(drop));
    return true;
  }

  /** The adapted backward of one layer: dinp (overwritten) and the adapter gradients; false if not adapted. */
  backward(step: Step, layer: number, kind: LoraModuleKind, dinp: Tensor | null, dout: Tensor, inp: Tensor, weight: BaseWeight, BT: number, C: number, OC: number, act?: ActEpilogue, drop?: DropoutDraw): boolean {
    const a = this.adapted(layer, kind);
    if (!a) return false;
    const r = this.config.r;
    loraBackward(step, dinp, this.params.grad(a.A), this.params.grad(a.B), this.dv!.view([BT, r]), dout, inp, a.u!.view([BT, r]), weight, this.gpuWeights(a), BT, C, OC, act, this.inputDropout(drop));
    return true;
  }

  private free(): void {
    for (const a of this.byKey.values()) {
      a.u?.buffer.destroy();
      a.u = undefined;
    }
    this.dv?.buffer.destroy();
    this.xd?.buffer.destroy();
    this.dv = this.xd = undefined;
    this.BT = 0;
  }

  destroy(): void {
    this.free();
    this.params.destroy();
  }
}

/** Columns of the lora_dropout scratch: the widest adapted input. */
export function loraDropoutWidth(modules: readonly LoraModule[]): number {
  return Math.max(...modules.map((m) => m.inFeatures));
}
