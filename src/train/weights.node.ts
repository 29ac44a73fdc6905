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

import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { GPT2Config } from '../model/config';
import type { GPUContext } from '../gpu/context';
import { DataError, MQGError } from '../util/errors';
import { GPT2 } from '../model/gpt2';
import { readAdapter } from '../model/peft.node';
import { ADAPTER_CONFIG_FILE } from '../model/peft';
import { streamWeights } from '../model/source/load';
import { listCheckpoints, RUN_FILES } from './rundir.node';
import { openCheckpoint } from '../model/checkpoint.node';
import { loadParams, type OpenedCheckpoint } from '../model/source/open';
import type { TensorEntry } from '../model/source/tensor-file';
import { resolveModelPath } from './inputs.node';
import { configFromMetadata, configToMetadata, decideConfig } from '../model/source/config';
import { parseSafetensors, toFloat32 } from '../model/source/safetensors';
import { canonicalParamList, hfName } from '../model/source/names';
import { serializeSafetensors, type TensorToWrite } from '../model/source/safetensors-write';
import { HEAD_BIAS, HEAD_WEIGHT } from '../model/mc-head';
import type { DropoutRates } from '../model/dropout';
import { checkQuantType, type QuantType } from '../model/quantized';

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
  /** What checkModelInputs reads the tokenizer beside: the checkpoint, or a quantized-base checkpoint's mc_head.safetensors. */
  inputsPath: string;
  /** Lines to show the user (a --quantize other than the one trained with). */
  notes: string[];
}

/**
 * A model for inference (`mqg eval-mcq`, `mqg serve`) from `checkpoint` (a run directory, checkpoint
 * directory or model file), opened once: config, metadata and the head come from that open, the body
 * streams in. The adapter is `adapter` when given, else the checkpoint's own adapter/ (as
 * finetune-mcq --lora writes it): what was trained, not the bare base. `check` sees the head and
 * metadata before any weight is read, to refuse early. `quantize`: the block weights GGML-quantized as they stream in.
 * A checkpoint of finetune-mcq on a quantized base (mc_head.safetensors, no model.safetensors) loads
 * its recorded base, quantized as recorded unless `quantize` says otherwise (then `notes` says so).
 */
export async function openScoringModel(gpu: GPUContext, checkpoint: string, adapter?: string, check?: (file: Pick<ScoringModel, 'head' | 'metadata'>) => void, quantize?: QuantType): Promise<ScoringModel> {
  const headFile = quantizedHeadFile(checkpoint);
  if (headFile) return openQuantizedScoringModel(gpu, headFile, adapter, check, quantize);
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
    return { ...file, model, adapterDir, inputsPath: checkpoint, notes: [] };
  });
}

/** The metadata keys of mc_head.safetensors that record the base (see finetune-mcq --quantize). */
export const BASE_MODEL_KEY = 'base_model', BASE_QUANTIZATION_KEY = 'base_quantization';

/** The mc_head.safetensors of a checkpoint of finetune-mcq on a quantized base, when `path` is one (a
 *  run directory: its newest checkpoint; a checkpoint directory; the file itself); else undefined. */
export function quantizedHeadFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (!statSync(path).isDirectory()) return basename(path) === RUN_FILES.HEAD_FILE ? path : undefined;
  const dir = listCheckpoints(path).at(-1)?.dir ?? path;
  const file = join(dir, RUN_FILES.HEAD_FILE);
  return existsSync(file) && !existsSync(join(dir, RUN_FILES.MODEL_FILE)) ? file : undefined;
}

/** mc_head.safetensors: the head, the model's config, the tokenizer record and the base (its source, its quantization). */
export interface QuantizedHeadFile {
  config: GPT2Config;
  metadata: Record<string, string>;
  head: { weight: Float32Array; bias: Float32Array };
  base: { source: string; quantize: QuantType };
}

export function readQuantizedHeadFile(file: string): QuantizedHeadFile {
  const parsed = parseSafetensors(new Uint8Array(readFileSync(file)), file);
  const m = parsed.metadata;
  const weight = parsed.tensors.get(HEAD_WEIGHT), bias = parsed.tensors.get(HEAD_BIAS);
  if (!weight || !bias) throw new DataError(`${file}: lacks "${weight ? HEAD_BIAS : HEAD_WEIGHT}"`);
  if (!m[BASE_MODEL_KEY]) throw new DataError(`${file}: records no base (metadata "${BASE_MODEL_KEY}")`);
  const fields = configFromMetadata(m, file);
  if (!fields) throw new DataError(`${file}: records no model config`);
  const config = decideConfig([{ where: file, fields }], file);
  const quantize = checkQuantType(m[BASE_QUANTIZATION_KEY], `${file}: metadata "${BASE_QUANTIZATION_KEY}"`);
  return { config, metadata: m, head: { weight: toFloat32(weight, HEAD_WEIGHT), bias: toFloat32(bias, HEAD_BIAS) }, base: { source: m[BASE_MODEL_KEY]!, quantize } };
}

/** The model of a quantized-base checkpoint: the recorded base (config checked against the record)
 *  quantized as recorded, or as `quantize` asks (PEFT's way: the adapter goes on the base as loaded), its adapter, its head. */
async function openQuantizedScoringModel(gpu: GPUContext, headFile: string, adapter: string | undefined, check: ((file: Pick<ScoringModel, 'head' | 'metadata'>) => void) | undefined, quantize: QuantType | undefined): Promise<ScoringModel> {
  const file = readQuantizedHeadFile(headFile);
  check?.(file);
  const notes: string[] = [];
  if (quantize && quantize !== file.base.quantize) {
    notes.push(`--quantize ${quantize}: ${headFile} was trained on its base quantized ${file.base.quantize}; loading the base ${quantize} as asked (the adapter and head meet other base weights than in training: scores differ)`);
  }
  if (!existsSync(file.base.source)) throw new DataError(`${headFile}: its base ${file.base.source} (recorded by finetune-mcq --quantize) is not there; the checkpoint holds only the adapter and the head`);
  const adapterDir = adapter ?? join(dirname(headFile), RUN_FILES.ADAPTER_DIR);
  const lora = await readAdapter(adapterDir, file.config);
  return withCheckpoint(resolveModelPath(file.base.source), file.config, async (ck) => {
    const model = new GPT2(gpu, file.config, { training: false, lora: lora.lora, quantize: quantize ?? file.base.quantize });
    await streamWeights(model, ck!);
    model.lora!.load(lora.weights);
    return { config: file.config, metadata: file.metadata, head: file.head, model, adapterDir, inputsPath: headFile, notes };
  });
}

/** mc_head.safetensors: the head's tensors, the config (with the run's `dropout`) and `meta` (the tokenizer, the base) in __metadata__. */
export function headFileBytes(config: GPT2Config, head: readonly TensorToWrite[], meta: Record<string, string>, dropout: Partial<DropoutRates> = {}): Uint8Array {
  return serializeSafetensors(head, { ...meta, ...configToMetadata(config, dropout) });
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
