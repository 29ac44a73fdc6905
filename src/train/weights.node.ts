// One path from a checkpoint to weights on the GPU for every command that trains: a fresh run from
// --init, a resumed run, finetune-mcq and eval-mcq. The checkpoint is opened ONCE: its config, its
// metadata, the multiple-choice head (when it has one) and its tensors all come from that one open;
// the body streams into the model one tensor at a time (streamWeights), never read whole.
//
// The open is the model layer's openCheckpoint, step by step (resolve, open each weight file once,
// the tensor index and config), so that the head's two tensors, which the LM loader leaves out,
// are read from the same open file. (When openCheckpoint hands out the tensors it leaves out,
// this becomes openCheckpoint plus those.)
//
// And the other way: the model.safetensors a checkpoint directory holds (HF GPT-2 names, the head's
// tensors after the body), serialised once.

import { readFileSync } from 'node:fs';
import type { GPT2Config } from '../model/config';
import { CheckpointError, MQGError } from '../util/errors';
import { resolveCheckpoint } from '../model/checkpoint.node';
import { fileSource } from '../model/source/file.node';
import { loadParams, openCheckpointFrom, type OpenedCheckpoint } from '../model/source/open';
import { openTensorFile, type TensorEntry } from '../model/source/tensors';
import { resolveModelPath } from './inputs.node';
import type { ByteSource } from '../model/source/bytes';
import type { HFGPT2ConfigJson } from '../model/source/config';
import { configToMetadata } from '../model/source/config';
import { canonicalParamList, hfName } from '../model/source/names';
import { serializeSafetensors, type TensorToWrite } from '../model/source/safetensors';
import { HEAD_BIAS, HEAD_WEIGHT } from '../model/mc-head';

/** An opened checkpoint, and the multiple-choice head's tensors when it has them (read on demand). */
export interface TrainCheckpoint extends OpenedCheckpoint {
  head?: { weight: TensorEntry; bias: TensorEntry };
}

function configJson(path: string | undefined): { json: HFGPT2ConfigJson; where: string } | undefined {
  if (!path) return undefined;
  try {
    return { json: JSON.parse(readFileSync(path, 'utf8')) as HFGPT2ConfigJson, where: path };
  } catch (e) {
    throw new CheckpointError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
}

/** Open a checkpoint (a file, an HF directory, hf:id) once: headers only. `config`: what it must state. Close it after. */
export async function openTrainCheckpoint(source: string, config?: GPT2Config): Promise<TrainCheckpoint> {
  const resolved = await resolveCheckpoint(source);
  const files: ByteSource[] = [];
  try {
    for (const f of resolved.weightFiles) files.push(await fileSource(f));
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
  const ck = await openCheckpointFrom({ what: source, files, index: resolved.index, configJson: configJson(resolved.configPath), config });
  if (ck.format !== 'safetensors') return ck;
  try {
    // the same open file's header again: the tensors mapParams left out
    const tensors = (await openTensorFile(files[0]!)).tensors;
    const weight = tensors.find((t) => t.name === HEAD_WEIGHT), bias = tensors.find((t) => t.name === HEAD_BIAS);
    if (!weight && !bias) return ck;
    if (!weight || !bias) throw new MQGError(`${files[0]!.name}: has "${weight ? HEAD_WEIGHT : HEAD_BIAS}" without "${weight ? HEAD_BIAS : HEAD_WEIGHT}"`);
    return { ...ck, head: { weight, bias } };
  } catch (e) {
    await ck.close();
    throw e;
  }
}

/** Open `source` (when given), hand it to `use` (build the model, stream the weights), close it. */
export async function withCheckpoint<T>(source: string | undefined, config: GPT2Config | undefined, use: (ck: TrainCheckpoint | undefined) => Promise<T>): Promise<T> {
  const ck = source === undefined ? undefined : await openTrainCheckpoint(source, config);
  try {
    return await use(ck);
  } finally {
    await ck?.close();
  }
}

/** The head's values of an opened checkpoint (undefined without one). */
export async function readHead(ck: TrainCheckpoint): Promise<{ weight: Float32Array; bias: Float32Array } | undefined> {
  return ck.head && { weight: await ck.head.weight.read(), bias: await ck.head.bias.read() };
}

export interface McqModelFile {
  config: GPT2Config;
  params: Map<string, Float32Array>;
  head?: { weight: Float32Array; bias: Float32Array };
  metadata: Record<string, string>;
}

/**
 * A checkpoint with its multiple-choice head, in memory (small models, tests): a run or checkpoint
 * directory, or any source the loader reads; a safetensors file with multiple_choice_head.* (ours, or GPT2DoubleHeadsModel's) gives the
 * head too. One open, as everywhere.
 */
export async function readMcqModel(path: string, config?: GPT2Config): Promise<McqModelFile> {
  return withCheckpoint(resolveModelPath(path), config, async (ck) => {
    const out: McqModelFile = { config: ck!.config, params: await loadParams(ck!), metadata: ck!.metadata ?? {} };
    const head = await readHead(ck!);
    return head ? { ...out, head } : out;
  });
}

/** model.safetensors: the body under HF GPT-2 names (f32), then `extra` tensors (the head's); config and `meta` in __metadata__. */
export function modelFileBytes(config: GPT2Config, params: ReadonlyMap<string, Float32Array>, meta: Record<string, string>, extra: readonly TensorToWrite[] = []): Uint8Array {
  const tensors: TensorToWrite[] = canonicalParamList(config, params).map(({ name, shape, data }) => ({ name: hfName(name), dtype: 'F32', shape, data }));
  const metadata = configToMetadata(config);
  for (const [k, v] of Object.entries(meta)) if (!(k in metadata)) metadata[k] = v;
  return serializeSafetensors([...tensors, ...extra], metadata);
}
