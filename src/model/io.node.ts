// Loading and saving models from files (Node): one tensor at a time between the file and the GPU.
import type { GPUContext } from '../gpu/context';
import type { GPT2, ModelOptions } from './gpt2';
import { openCheckpoint, writeCheckpoint, type ReadCheckpointOptions, type ResolvedCheckpoint, type WriteCheckpointOptions } from './checkpoint.node';
import { buildModel } from './source/load';
import { paramShapes } from './config';

/**
 * Build a model from any checkpoint source (a file, a Hugging Face model directory, hf:org/name):
 * each tensor is read, converted (f32 -> f16 for an f16 model) and uploaded in turn; no file and no
 * full set of weights is ever held in memory. Also returns what the source resolved to (its
 * tokenizer.json, config.json, files) and its metadata.
 */
export async function loadModelAndSource(
  gpu: GPUContext,
  source: string,
  options: ModelOptions & ReadCheckpointOptions = {},
): Promise<{ model: GPT2; resolved: ResolvedCheckpoint; metadata: Record<string, string> }> {
  const ck = await openCheckpoint(source, options);
  try {
    return { model: await buildModel(gpu, ck, options), resolved: ck.resolved, metadata: ck.metadata };
  } finally {
    await ck.close();
  }
}

/** Build a model from any checkpoint source; see loadModelAndSource. */
export async function loadModel(gpu: GPUContext, source: string, options: ModelOptions & ReadCheckpointOptions = {}): Promise<GPT2> {
  return (await loadModelAndSource(gpu, source, options)).model;
}

/**
 * Save the model's weights (f32 master weights, or the f16 weights of an f16 inference model),
 * each parameter downloaded from the GPU in turn: a `.safetensors` file, or a Hugging Face model
 * directory for any other path (config.json + safetensors, sharded with `maxShardSize`).
 */
export async function saveModel(model: GPT2, path: string, options: WriteCheckpointOptions = {}): Promise<void> {
  // Stored shapes are the canonical ones: wte and an untied lm_head with vocabSize rows (the GPU pads them).
  const canonicalShapes = new Map(paramShapes(model.config).map((p) => [p.name, p.shape]));
  const params = model.params.slots.map((s) => ({
    name: s.name,
    shape: canonicalShapes.get(s.name) ?? s.shape,
    values: () => model.parameter(s.name),
  }));
  await writeCheckpoint(path, model.config, params, options);
}
