// One path from a checkpoint to weights on the GPU for every command that trains: a fresh run from
// --init, a resumed run, finetune-mcq; and for the commands that score (eval-mcq, serve:
// openScoringModel). The checkpoint is opened ONCE: its config, its
// metadata, the multiple-choice head (when it has one) and its tensors all come from that one open;
// the body streams into the model one tensor at a time (streamWeights), never read whole.
//
// The open is the model layer's openCheckpoint; the head's two tensors, which are no GPT-2
// parameters, come from the same open (its `heads`).
//
// And the other way: the model.safetensors a checkpoint directory holds (HF GPT-2 names, the head's
// tensors after the body), serialised once.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { GPT2Config } from '../model/config';
import type { GPUContext } from '../gpu/context';
import { MQGError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { readAdapter } from '../model/peft.node';
import { ADAPTER_CONFIG_FILE } from '../model/peft';
import { streamWeights } from '../model/source/load';
import { RUN_FILES } from './rundir.node';
import { openCheckpoint } from '../model/checkpoint.node';
import { loadParams, type OpenedCheckpoint } from '../model/source/open';
import type { TensorEntry } from '../model/source/tensor-file';
import { resolveModelPath } from './inputs.node';
import { configToMetadata } from '../model/source/config';
import { canonicalParamList, hfName } from '../model/source/names';
import { serializeSafetensors, type TensorToWrite } from '../model/source/safetensors-write';
import { HEAD_BIAS, HEAD_WEIGHT } from '../model/mc-head';
import type { DropoutRates } from '../model/dropout';
import type { QuantType } from '../model/quantized';

/** An opened checkpoint, and the multiple-choice head's tensors when it has them (read on demand). */
export interface TrainCheckpoint extends OpenedCheckpoint {
  head?: { weight: TensorEntry; bias: TensorEntry };
}

/** Open a checkpoint (a file, an HF directory, hf:id) once: headers only. `config`: what it must state. Close it after. */
export async function openTrainCheckpoint(source: string, config?: GPT2Config): Promise<TrainCheckpoint> {
  const ck = await openCheckpoint(source, { config });
  const weight = ck.heads.get(HEAD_WEIGHT), bias = ck.heads.get(HEAD_BIAS);
  if (!weight && !bias) return ck;
  if (!weight || !bias) {
    await ck.close();
    throw new MQGError(`${(weight ?? bias)!.file}: has "${weight ? HEAD_WEIGHT : HEAD_BIAS}" without "${weight ? HEAD_BIAS : HEAD_WEIGHT}"`);
  }
  return { ...ck, head: { weight, bias } };
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

/** A model read for inference, with what scoring needs from the same open (see openScoringModel). */
export interface ScoringModel {
  model: GPT2;
  config: GPT2Config;
  metadata: Record<string, string>;
  /** The multiple-choice head's values, when the checkpoint has them. */
  head?: { weight: Float32Array; bias: Float32Array };
  /** The LoRA adapter applied, if any. */
  adapterDir?: string;
}

/**
 * A model for inference (`mqg eval-mcq`, `mqg serve`) from `checkpoint` (a run directory, checkpoint
 * directory or model file), opened once: config, metadata and the head come from that open, the body
 * streams in. The adapter is `adapter` when given, else the checkpoint's own adapter/ (as
 * finetune-mcq --lora writes it): what was trained, not the bare base. `check` sees the head and
 * metadata before any weight is read, to refuse early. `quantize`: the block weights GGML-quantized as they stream in.
 */
export async function openScoringModel(gpu: GPUContext, checkpoint: string, adapter?: string, check?: (file: Pick<ScoringModel, 'head' | 'metadata'>) => void, quantize?: QuantType): Promise<ScoringModel> {
  const modelFile = resolveModelPath(checkpoint);
  return withCheckpoint(modelFile, undefined, async (ck) => {
    const file = { config: ck!.config, metadata: ck!.metadata ?? {}, head: await readHead(ck!) };
    check?.(file);
    const own = join(dirname(modelFile), RUN_FILES.ADAPTER_DIR);
    const adapterDir = adapter ?? (existsSync(modelFile) && existsSync(join(own, ADAPTER_CONFIG_FILE)) ? own : undefined);
    const lora = adapterDir ? await readAdapter(adapterDir, file.config) : undefined;
    const model = new GPT2(gpu, file.config, { training: false, lora: lora?.lora, quantize });
    await streamWeights(model, ck!);
    if (lora) model.lora!.load(lora.weights);
    return { ...file, model, adapterDir };
  });
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

/** model.safetensors: the body under HF GPT-2 names (f32), then `extra` tensors (the head's); config (with the run's `dropout`) and `meta` in __metadata__. */
export function modelFileBytes(config: GPT2Config, params: ReadonlyMap<string, Float32Array>, meta: Record<string, string>, extra: readonly TensorToWrite[] = [], dropout: Partial<DropoutRates> = {}): Uint8Array {
  const tensors: TensorToWrite[] = canonicalParamList(config, params).map(({ name, shape, data }) => ({ name: hfName(name), dtype: 'F32', shape, data }));
  const metadata = configToMetadata(config, dropout);
  for (const [k, v] of Object.entries(meta)) if (!(k in metadata)) metadata[k] = v;
  return serializeSafetensors([...tensors, ...extra], metadata);
}
