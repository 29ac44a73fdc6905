// LoRA with files (Node): base checkpoints plus PEFT adapter directories.
import { existsSync, readFileSync, statSync } from 'node:fs';
import nodePath from 'node:path';
import type { GPUContext } from '../gpu/context';
import { CheckpointError, type GPT2Config } from './config';
import { readCheckpoint } from './checkpoint.node';
import { loadGPT2Weights, type HFGPT2ConfigJson } from './hfnames';
import { parseSafetensors, type SafetensorsTensor } from './safetensors';
import { GPT2, type ModelOptions } from './gpt2';
import { readAdapter, writeAdapter } from './peft.node';

/**
 * Base weights from a checkpoint file, or from a Hugging Face model directory (model.safetensors,
 * or shards listed by model.safetensors.index.json, with config.json).
 * TODO(loader): replace with the loader's resolveCheckpoint once it lands; this reads whole shards.
 */
export async function readBaseCheckpoint(source: string): Promise<{ config: GPT2Config; params: Map<string, Float32Array>; dir: string }> {
  if (!existsSync(source)) throw new CheckpointError(`no such checkpoint: ${source}`);
  if (!statSync(source).isDirectory()) {
    const ck = await readCheckpoint(source);
    return { config: ck.config, params: ck.params, dir: nodePath.dirname(source) };
  }
  const single = nodePath.join(source, 'model.safetensors');
  if (existsSync(single)) {
    const ck = await readCheckpoint(single);
    return { config: ck.config, params: ck.params, dir: source };
  }
  const indexPath = nodePath.join(source, 'model.safetensors.index.json');
  if (!existsSync(indexPath)) throw new CheckpointError(`${source}: a model directory needs model.safetensors or model.safetensors.index.json`);
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map?: Record<string, string> };
  if (!index.weight_map) throw new CheckpointError(`${indexPath}: no weight_map`);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const file of new Set(Object.values(index.weight_map))) {
    const path = nodePath.join(source, file);
    for (const [k, t] of parseSafetensors(new Uint8Array(readFileSync(path)), path).tensors) tensors.set(k, t);
  }
  const configPath = nodePath.join(source, 'config.json');
  if (!existsSync(configPath)) throw new CheckpointError(`${source}: no config.json`);
  const json = JSON.parse(readFileSync(configPath, 'utf8')) as HFGPT2ConfigJson;
  const { config, params } = loadGPT2Weights({ metadata: {}, tensors, fileName: source }, json);
  return { config, params, dir: source };
}

/** A model from a base checkpoint with a PEFT adapter applied (frozen base; the adapter trainable unless training: false). */
export async function loadAdaptedModel(gpu: GPUContext, base: string, adapterDir: string, options: ModelOptions = {}): Promise<GPT2> {
  const ck = await readBaseCheckpoint(base);
  const { lora, weights } = await readAdapter(adapterDir, ck.config);
  const model = new GPT2(gpu, ck.config, { ...options, lora });
  model.loadWeights(ck.params);
  model.lora!.load(weights);
  return model;
}

/** Write a LoRA model's adapter as a PEFT directory. */
export async function saveAdapter(model: GPT2, dir: string): Promise<void> {
  if (!model.lora) throw new CheckpointError('saveAdapter: the model has no LoRA adapter');
  await writeAdapter(dir, model.lora.config, await model.lora.weights());
}

/** The model for `sample` / `eval` / `eval-mcq`: the checkpoint, with `--adapter` applied when given. */
export async function loadModelWithAdapter(gpu: GPUContext, checkpoint: string, adapter: string | undefined, options: ModelOptions = {}): Promise<GPT2> {
  if (adapter) return loadAdaptedModel(gpu, checkpoint, adapter, options);
  const ck = await readBaseCheckpoint(checkpoint);
  const model = new GPT2(gpu, ck.config, options);
  model.loadWeights(ck.params);
  return model;
}
