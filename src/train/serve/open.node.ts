// The model `mqg serve` serves, from a checkpoint: opened once through the scoring models' path
// (weights.node.ts: config, metadata, the multiple-choice head when it has one, the adapter), its
// tokenizer found and checked as every command's (inputs.node.ts), the head put on the GPU.

import { basename } from 'node:path';
import { createGPU, type GPUContext } from '../../gpu/context';
import { McHead, type HeadKind } from '../../model/mc-head';
import { releaseGenerationCache } from '../../model/generate';
import { checkModelInputs } from '../inputs.node';
import { openScoringModel } from '../weights.node';
import { ServeEngine } from './engine';
import type { QuantType } from '../../model/quantized';

export interface OpenServeOptions {
  /** A run directory, checkpoint directory, model file or HF directory. */
  checkpoint: string;
  /** A PEFT LoRA adapter directory (default: the checkpoint's own adapter/, if any). */
  adapter?: string;
  /** A tokenizer ("gpt2" or a tokenizer.json) instead of the checkpoint's own. */
  tokenizer?: string;
  precision?: 'auto' | 'f16' | 'f32';
  /** Quantize the model's block weights as they load (GGML q8_0 / q4_0). */
  quantize?: QuantType;
  /** Requests that may wait behind the running one (past it: 503). */
  maxQueue: number;
  /** The id clients see in /v1/models and responses (default: the checkpoint's name). */
  modelId?: string;
  /** A GPU context to use (default: a new one, destroyed with the engine). */
  gpu?: GPUContext;
  /** Where loading notes go (a --quantize other than a quantized-base checkpoint's); default stderr. */
  log?: (line: string) => void;
}

/** A model id from a checkpoint path: its last name without the extension (a run's directory name). */
export function modelIdOf(checkpoint: string): string {
  return basename(checkpoint.replace(/[/\\]+$/, '')).replace(/\.(safetensors|bin)$/i, '') || 'mqg';
}

/** The engine of a checkpoint, and destroy() that frees its model, head and (its own) GPU context. */
export async function openServeEngine(o: OpenServeOptions): Promise<{ engine: ServeEngine; adapterDir?: string; destroy(): void }> {
  const gpu = o.gpu ?? (await createGPU({ precision: o.precision ?? 'auto' }));
  const { model, head: headValues, metadata, adapterDir, inputsPath, notes } = await openScoringModel(gpu, o.checkpoint, o.adapter, undefined, o.quantize);
  for (const n of notes) (o.log ?? ((s: string) => console.error(`mqg serve: ${s}`)))(n);
  const tok = checkModelInputs({ checkpoint: inputsPath, vocabSize: model.config.vocabSize, tokenizer: o.tokenizer, needTokenizer: true, command: 'serve', metadata }).tokenizer!.tokenizer;
  let head: McHead | undefined;
  if (headValues) {
    head = new McHead(gpu, model.config.nEmbd, (metadata.mcq_head ?? 'multiple-choice') as HeadKind);
    head.load(headValues.weight, headValues.bias, o.checkpoint);
  }
  const engine = new ServeEngine(model, tok, o.modelId ?? modelIdOf(o.checkpoint), { maxQueue: o.maxQueue, head });
  return {
    engine,
    adapterDir,
    destroy() {
      head?.destroy();
      releaseGenerationCache(model);
      model.destroy();
      if (!o.gpu) gpu.destroy();
    },
  };
}
