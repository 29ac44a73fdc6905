// Loading and saving models from files (Node).
import type { GPUContext } from '../gpu/context';
import { GPT2, type ModelOptions } from './gpt2';
import { readCheckpoint, writeCheckpoint, type ReadCheckpointOptions } from './checkpoint.node';

/** Build a model from a safetensors (HF GPT-2 names) or llm.c `.bin` checkpoint. */
export async function loadModel(gpu: GPUContext, path: string, options: ModelOptions & ReadCheckpointOptions = {}): Promise<GPT2> {
  const ckpt = await readCheckpoint(path, options);
  const model = new GPT2(gpu, ckpt.config, options);
  model.loadWeights(ckpt.params);
  return model;
}

/** Write the model's f32 master weights as safetensors with HF GPT-2 names, atomically. */
export async function saveModel(model: GPT2, path: string, metadata: Record<string, string> = {}): Promise<void> {
  await writeCheckpoint(path, model.config, await model.weights(), { metadata });
}
