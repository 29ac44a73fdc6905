// GPU memory of LoRA adapters, as LoraAdapters (lora.ts) allocates them, for the memory plan
// (memory.ts). Pure and browser-safe.
//   adapter weights  lora_A [r, in] + lora_B [out, r] per module, f32, laid out in ParamStore banks
//   gradients, moments  f32, the same banks (the frozen base has none)
//   activations      u [BT, r] f32 per module (saved for dB); dv [BT, r] f32 scratch (a gradient buffer);
//                    with lora_dropout in training, xd [BT, widest input] (storage dtype) scratch
import type { GPT2Config } from './config';
import { layoutParams } from './params';
import { loraModules, type LoraConfig } from './peft';

const buf = (bytes: number) => Math.ceil(Math.max(bytes, 16) / 16) * 16;

export interface LoraMemory {
  /** f32 adapter weight banks (also the master weights AdamW updates). */
  weights: number;
  gradients: number;
  adamMoments: number;
  /** Decay masks of the adapter banks and the frozen LayerNorm gradient sink. */
  other: number;
  /** u per module. */
  activations: number;
  /** dv. */
  activationGrads: number;
  /** Trainable elements. */
  numel: number;
}

export function loraMemory(config: GPT2Config, lora: LoraConfig, BT: number, maxBindingBytes: number, training = true, storageBytes = 4): LoraMemory {
  const modules = loraModules(config, lora);
  const shapes = modules.flatMap((m) => [{ name: `${m.module}.A`, shape: [lora.r, m.inFeatures] }, { name: `${m.module}.B`, shape: [m.outFeatures, lora.r] }]);
  const device = Math.floor(maxBindingBytes / 4 / 128) * 128;
  const { bankSizes } = layoutParams(shapes, device);
  const banks = bankSizes.reduce((n, b) => n + buf(4 * b), 0);
  const numel = shapes.reduce((n, s) => n + s.shape[0]! * s.shape[1]!, 0);
  return {
    weights: banks,
    gradients: training ? banks : 0,
    adamMoments: training ? 2 * banks : 0,
    other: training ? bankSizes.reduce((n, b) => n + buf(4 * Math.max(1, Math.ceil(b / 32))), 0) + buf(2 * Math.ceil(config.nEmbd / 64) * 64 * 4) : 0,
    activations: modules.length * buf(4 * BT * lora.r) + (training && lora.loraDropout > 0 ? buf(storageBytes * BT * Math.max(...modules.map((m) => m.inFeatures))) : 0),
    activationGrads: buf(4 * BT * lora.r),
    numel,
  };
}
