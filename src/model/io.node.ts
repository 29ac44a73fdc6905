// Models from and to files (Node): one tensor at a time between the file and the GPU. Every way
// weights reach a model goes through one path: a checkpoint source opened once (openCheckpoint:
// its config, metadata and tensor index), then its tensors streamed into the model (streamWeights,
// source/load.ts). loadModel builds a new model that way, streamWeightsFrom fills an existing one;
// bytes, Blobs, Responses and http(s) URLs take the same path through the browser-safe load.ts.

import { fileURLToPath } from 'node:url';
import type { GPUContext } from '../gpu/context';
import type { GPT2, ModelOptions } from './gpt2';
import { openCheckpoint, type ReadCheckpointOptions, type ResolvedCheckpoint } from './checkpoint.node';
import { writeCheckpoint, type WriteCheckpointOptions } from './checkpoint-write.node';
import { loadModelFrom, type LoadModelOptions, type ModelSource } from './load';
import { buildModel, streamWeights } from './source/load';
import { paramShapes } from './config';
import { MQGError } from '../util/errors';

/** What a checkpoint source resolved to (its tokenizer.json, config.json, files) and its safetensors metadata. */
export interface CheckpointOrigin {
  resolved: ResolvedCheckpoint;
  metadata: Record<string, string>;
}

/**
 * Build a model from any checkpoint source (a file, a Hugging Face model directory, hf:org/name):
 * each tensor is read, converted (f32 -> f16 for an f16 model) and uploaded in turn; no file and no
 * full set of weights is ever held in memory. Also returns what the source resolved to and its metadata.
 */
export async function loadModelAndSource(
  gpu: GPUContext,
  source: string,
  options: ModelOptions & ReadCheckpointOptions = {},
): Promise<{ model: GPT2 } & CheckpointOrigin> {
  const ck = await openCheckpoint(source, options);
  try {
    return { model: await buildModel(gpu, ck, options), resolved: ck.resolved, metadata: ck.metadata };
  } finally {
    await ck.close();
  }
}

/**
 * Build a model from a checkpoint: a file path or `file:` URL (safetensors with HF GPT-2 names,
 * with `config.json` beside it where the metadata lacks the config, PyTorch or llm.c `.bin`), a
 * Hugging Face model directory, an hf:org/name id, or, as in browsers, bytes, an ArrayBuffer, a
 * Blob, a Response or an http(s) URL. Throws {@link CheckpointError} naming the file and the
 * tensor or field at fault.
 */
export async function loadModel(gpu: GPUContext, source: ModelSource, options: LoadModelOptions & ReadCheckpointOptions = {}): Promise<GPT2> {
  const url = source instanceof URL ? source : typeof source === 'string' && /^(https?|file):\/\//i.test(source) ? new URL(source) : undefined;
  if (url?.protocol === 'file:') return (await loadModelAndSource(gpu, fileURLToPath(url), options)).model;
  if (typeof source === 'string' && !url) return (await loadModelAndSource(gpu, source, options)).model;
  return loadModelFrom(gpu, source, options);
}

/**
 * Stream a checkpoint source's weights into an existing model (its config must agree with the
 * checkpoint's), opening the source once, one tensor at a time: a large base is never held whole.
 * For a model built before its weights are known (a resumed run, a LoRA base, --init).
 */
export async function streamWeightsFrom(model: GPT2, source: string, options: ReadCheckpointOptions = {}): Promise<CheckpointOrigin> {
  const ck = await openCheckpoint(source, { ...options, config: model.config });
  try {
    await streamWeights(model, ck);
    return { resolved: ck.resolved, metadata: ck.metadata };
  } finally {
    await ck.close();
  }
}

/**
 * Save the model's weights (f32 master weights, or the f16 weights of an f16 inference model),
 * each parameter downloaded from the GPU in turn: a `.safetensors` file, or a Hugging Face model
 * directory for any other path (config.json + safetensors, sharded with `maxShardSize`).
 */
export async function saveModel(model: GPT2, path: string, options: WriteCheckpointOptions = {}): Promise<void> {
  if (model.quantizedBase) throw new MQGError(`saveModel: the model's block weights are ${model.quantizedBase.type}-quantized (a frozen base); save its adapter, or load the source without quantize to save full-precision weights`);
  // Stored shapes are the canonical ones: wte and an untied lm_head with vocabSize rows (the GPU pads them).
  const canonicalShapes = new Map(paramShapes(model.config).map((p) => [p.name, p.shape]));
  const params = model.params.slots.map((s) => ({
    name: s.name,
    shape: canonicalShapes.get(s.name) ?? s.shape,
    values: () => model.parameter(s.name),
  }));
  await writeCheckpoint(path, model.config, params, options);
}
