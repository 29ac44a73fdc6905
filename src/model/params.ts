// Parameter memory: every GPT-2 parameter lives at a fixed offset inside a few flat "banks", so
// AdamW runs as one dispatch per bank (one in total for small models) over contiguous memory.
// Each bank holds, for the same element range:
//   master  f32  the weights AdamW updates (also the compute weights at precision f32)
//   lowp    f16  the compute weights at precision f16 (written by AdamW in the same pass)
//   grad    f32  parameter gradients (accumulated with +=, zeroed in one place: zeroGrad)
//   m, v    f32  AdamW moments
// A bank never exceeds the device's per-binding limit; each parameter starts on a 128-element
// boundary so its views satisfy the 256-byte binding-offset alignment in f16 and f32.

import type { GPUContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { MQGError } from '../util/errors';
import { createDecayMask } from '../kernels/adamw';

export const PARAM_ALIGN = 128;

export interface ParamSlot {
  /** Canonical HF name without the `transformer.` prefix, e.g. `h.0.attn.c_attn.weight`. */
  name: string;
  /** Shape in memory (wte has the padded vocab rows). */
  shape: number[];
  numel: number;
  bank: number;
  /** Element offset inside the bank. */
  offset: number;
  /** Whether AdamW's weight decay applies. */
  decay: boolean;
}

export interface Bank {
  numel: number;
  /** f32 master weights: absent only in an f16 model built for inference. */
  master: Tensor | null;
  lowp: Tensor | null;
  /** Gradients, AdamW moments and the decay mask: absent in a model built for inference. */
  grad: Tensor | null;
  m: Tensor | null;
  v: Tensor | null;
  decayMask: Tensor | null;
}

/** Partial sums of several banks sit 64 floats (256 bytes) apart, so each is a legal binding offset. */
export const NORM_STRIDE = 64;

/** Matmul weights and embeddings decay; biases and LayerNorm parameters do not (llm.c CUDA, nanoGPT). */
export function decaysByDefault(name: string): boolean {
  return name.endsWith('.weight') && !/\bln_(1|2|f)\./.test(name);
}

export function layoutParams(
  shapes: { name: string; shape: number[] }[],
  bankCapacity: number,
  decay: (name: string) => boolean = decaysByDefault,
): { slots: ParamSlot[]; bankSizes: number[] } {
  const slots: ParamSlot[] = [];
  const bankSizes: number[] = [0];
  for (const { name, shape } of shapes) {
    const numel = shape.reduce((a, b) => a * b, 1);
    let bank = bankSizes.length - 1;
    let offset = Math.ceil(bankSizes[bank]! / PARAM_ALIGN) * PARAM_ALIGN;
    if (offset > 0 && offset + numel > bankCapacity) {
      // A parameter larger than one binding gets a bank of its own; the kernels that touch it
      // (embedding, lm_head matmuls, AdamW, norms) bind it in pieces.
      bankSizes.push(0);
      bank++;
      offset = 0;
    }
    slots.push({ name, shape: [...shape], numel, bank, offset, decay: decay(name) });
    bankSizes[bank] = offset + numel;
  }
  return { slots, bankSizes: bankSizes.map((n) => Math.ceil(n / PARAM_ALIGN) * PARAM_ALIGN) };
}

export class ParamStore {
  readonly slots: ParamSlot[];
  readonly banks: Bank[];
  private readonly byName = new Map<string, ParamSlot>();

  constructor(
    readonly gpu: GPUContext,
    shapes: { name: string; shape: number[] }[],
    readonly lowPrecision: boolean,
    decay?: (name: string) => boolean,
    maxBankElements?: number,
    /** false: weights only (no gradients, no optimiser state), e.g. to sample from a large model. */
    readonly training = true,
  ) {
    const device = Math.floor(gpu.limits.maxStorageBufferBindingSize! / 4 / PARAM_ALIGN) * PARAM_ALIGN;
    const capacity = Math.min(device, maxBankElements ?? device);
    const { slots, bankSizes } = layoutParams(shapes, capacity, decay);
    this.slots = slots;
    for (const s of slots) this.byName.set(s.name, s);
    this.banks = bankSizes.map((n, b) => {
      const segs = slots.filter((s) => s.bank === b).map((s) => ({ offset: s.offset, length: s.numel, decay: s.decay }));
      const t = (label: string) => (training ? gpu.tensor([n], 'f32', `${label}${b}`) : null);
      return {
        numel: n,
        master: training || !lowPrecision ? gpu.tensor([n], 'f32', `params${b}`) : null,
        lowp: lowPrecision ? gpu.tensor([n], 'f16', `params${b}_f16`) : null,
        grad: t('grads'),
        m: t('adam_m'),
        v: t('adam_v'),
        decayMask: training ? createDecayMask(gpu, segs, n) : null,
      };
    });
  }

  slot(name: string): ParamSlot {
    const s = this.byName.get(name);
    if (!s) throw new MQGError(`no parameter named "${name}" (parameters: ${this.slots.map((p) => p.name).join(', ')})`);
    return s;
  }

  /** Compute weights (f16 at precision f16, else the f32 master). */
  weight(name: string): Tensor {
    const s = this.slot(name);
    const bank = this.banks[s.bank]!;
    return (bank.lowp ?? bank.master)!.view(s.shape, s.offset, name);
  }

  /** The f32 master weights, or the f16 weights in an f16 inference model. */
  master(name: string): Tensor {
    const s = this.slot(name);
    const bank = this.banks[s.bank]!;
    return (bank.master ?? bank.lowp)!.view(s.shape, s.offset, name);
  }

  grad(name: string): Tensor {
    const s = this.slot(name);
    const g = this.banks[s.bank]!.grad;
    if (!g) throw new MQGError(`parameter "${name}" has no gradient: the model was built with training: false`);
    return g.view(s.shape, s.offset, `d${name}`);
  }

  /** Upload f32 values for one parameter (and its f16 copy). Values beyond `data.length` stay zero. */
  set(name: string, data: Float32Array): void {
    const s = this.slot(name);
    if (data.length > s.numel) throw new MQGError(`parameter "${name}": ${data.length} values for ${s.numel} elements`);
    const full = data.length === s.numel ? data : (() => { const f = new Float32Array(s.numel); f.set(data); return f; })();
    const bank = this.banks[s.bank]!;
    if (bank.master) this.gpu.upload(bank.master.view(s.shape, s.offset, name), full);
    if (bank.lowp) this.gpu.upload(bank.lowp.view(s.shape, s.offset, name), full);
  }

  get totalNumel(): number {
    return this.banks.reduce((a, b) => a + b.numel, 0);
  }

  destroy(): void {
    for (const b of this.banks) for (const t of [b.master, b.lowp, b.grad, b.m, b.v, b.decayMask]) t?.buffer.destroy();
  }
}
