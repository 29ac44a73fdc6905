// LoRA with files (Node): any base checkpoint source plus PEFT adapter directories.
import type { GPUContext } from '../gpu/context';
import { CheckpointError } from '../util/errors';
import type { GPT2, ModelOptions } from './gpt2';
import { loadModelAndSource } from './io.node';
import type { ReadCheckpointOptions, ResolvedCheckpoint } from './checkpoint.node';
import { readAdapter, readAdapterConfig, writeAdapter } from './peft.node';
import nodePath from 'node:path';
import { ADAPTER_WEIGHTS_FILE, parseAdapterWeights } from './peft';
import { promises as fsp } from 'node:fs';

/**
 * A model from any checkpoint source (streamed in by the loader) with a PEFT adapter applied: the
 * base frozen, the adapter trainable unless options.training is false.
 */
export async function loadAdaptedModelAndSource(
  gpu: GPUContext, base: string, adapterDir: string, options: ModelOptions & ReadCheckpointOptions = {},
): Promise<{ model: GPT2; resolved: ResolvedCheckpoint; metadata: Record<string, string> }> {
  const lora = await readAdapterConfig(adapterDir);
  const loaded = await loadModelAndSource(gpu, base, { ...options, lora });
  const path = nodePath.join(adapterDir, ADAPTER_WEIGHTS_FILE);
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    loaded.model.destroy();
    throw new CheckpointError(`cannot read adapter weights ${path}: ${(e as Error).message}`);
  }
  loaded.model.lora!.load(parseAdapterWeights(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), loaded.model.config, lora, path));
  return loaded;
}

export async function loadAdaptedModel(gpu: GPUContext, base: string, adapterDir: string, options: ModelOptions & ReadCheckpointOptions = {}): Promise<GPT2> {
  return (await loadAdaptedModelAndSource(gpu, base, adapterDir, options)).model;
}

/** The model for `sample` / `eval` / `eval-mcq`: the checkpoint, with `--adapter` applied when given. */
export async function loadModelWithAdapter(
  gpu: GPUContext, checkpoint: string, adapter: string | undefined, options: ModelOptions & ReadCheckpointOptions = {},
): Promise<{ model: GPT2; resolved: ResolvedCheckpoint; metadata: Record<string, string> }> {
  return adapter ? loadAdaptedModelAndSource(gpu, checkpoint, adapter, options) : loadModelAndSource(gpu, checkpoint, options);
}

/** Write a LoRA model's adapter as a PEFT directory. */
export async function saveAdapter(model: GPT2, dir: string): Promise<void> {
  if (!model.lora) throw new CheckpointError('saveAdapter: the model has no LoRA adapter');
  await writeAdapter(dir, model.lora.config, await model.lora.weights());
}

export { readAdapter };
