// PEFT adapter directories on disk (Node): adapter_config.json + adapter_model.safetensors.
import { promises as fsp } from 'node:fs';
import nodePath from 'node:path';
import { type GPT2Config } from './config';
import { CheckpointError } from '../util/errors';
import { writeFileAtomic } from './checkpoint-write.node';
import {
  ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, parseAdapterConfig, parseAdapterWeights, serializeAdapterConfig, serializeAdapterWeights,
  type LoraConfig, type LoraWeights,
} from './peft';

async function readOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await fsp.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(code === 'ENOENT' ? `${what} ${path} does not exist` : `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** Read a PEFT LoRA adapter directory's config only. */
export async function readAdapterConfig(dir: string): Promise<LoraConfig> {
  const path = nodePath.join(dir, ADAPTER_CONFIG_FILE);
  return parseAdapterConfig((await readOrThrow(path, 'adapter config')).toString('utf8'), path);
}

/** Read a PEFT LoRA adapter directory for a model of `config`. */
export async function readAdapter(dir: string, config: GPT2Config): Promise<{ lora: LoraConfig; weights: LoraWeights }> {
  const lora = await readAdapterConfig(dir);
  const path = nodePath.join(dir, ADAPTER_WEIGHTS_FILE);
  const bytes = await readOrThrow(path, 'adapter weights');
  return { lora, weights: parseAdapterWeights(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), config, lora, path) };
}

/** Write a PEFT LoRA adapter directory (each file atomically; weights first, so a config never points at missing weights). */
export async function writeAdapter(dir: string, lora: LoraConfig, weights: LoraWeights): Promise<void> {
  await fsp.mkdir(dir, { recursive: true });
  await writeFileAtomic(nodePath.join(dir, ADAPTER_WEIGHTS_FILE), serializeAdapterWeights(weights, lora));
  await writeFileAtomic(nodePath.join(dir, ADAPTER_CONFIG_FILE), new TextEncoder().encode(serializeAdapterConfig(lora)));
}
