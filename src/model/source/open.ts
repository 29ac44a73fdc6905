/**
 * The loader pipeline after the source is resolved (step 1, resolve.node.ts), browser-safe:
 *   files (ByteSources, any format) + shard index -> tensor index -> config (decided in one
 *   place) -> canonical parameters, each read and handed over one at a time.
 * checkpoint.node.ts feeds it from paths (a file, an HF model directory, an hf: id); a browser
 * can feed it Files the user picked.
 */

import type { GPT2Config } from '../config';
import { bytesSource, type ByteSource } from './bytes';
import { decideConfig, configFromMetadata, dropoutFromHFJson, dropoutFromMetadata, fullConfigSource, jsonConfigSource, type ConfigDropout, type ConfigSource, type HFGPT2ConfigJson } from './config';
import { firstDifference, mapParams, untiedCopyError } from './names';
import type { TensorEntry, TensorFile, TensorFormat } from './tensor-file';
import { indexTensors, openTensorFile, type ShardIndex } from './tensors';

export interface CheckpointInputs {
  /** What the user named (for messages): a path, a directory, an hf: id. */
  what: string;
  /** Every weight file (one, or the shards of an index). */
  files: ByteSource[];
  index?: ShardIndex;
  /** A config.json's contents and where it is. */
  configJson?: { json: HFGPT2ConfigJson; where: string };
  /** A config given by the caller: one more source that must agree. */
  config?: GPT2Config;
}

export interface OpenedCheckpoint {
  what: string;
  format: TensorFormat;
  config: GPT2Config;
  /**
   * The dropout its config states, as transformers would train it: config.json's, else the first
   * file's __metadata__ config's (GPT2Config's 0.1 for absent fields); undefined where no whole
   * config is stated (llm.c files, bare weights): those train without dropout.
   */
  dropout?: ConfigDropout;
  /** Canonical name -> tensor, in `paramShapes` order. */
  params: Map<string, TensorEntry>;
  /** The first file's safetensors `__metadata__` (empty for other formats). */
  metadata: Record<string, string>;
  files: string[];
  /** A stored lm_head of a tied model, still to be compared with wte (readParams does it). */
  tiedCopy?: TensorEntry;
  /** The multiple-choice head's tensors by HF name (`multiple_choice_head.summary.weight`, `.bias`), when stored. */
  heads: Map<string, TensorEntry>;
  close(): Promise<void>;
}

export async function openCheckpointFrom(inputs: CheckpointInputs): Promise<OpenedCheckpoint> {
  const files: TensorFile[] = [];
  try {
    // 2. The tensor index: every file's header or directory, checked against the shard index.
    for (const src of inputs.files) files.push(await openTensorFile(src));
    const tensors = indexTensors(files, inputs.index);
    // 3. The config: every place that states one, which must agree.
    const sources: ConfigSource[] = [];
    if (inputs.configJson) sources.push(jsonConfigSource(inputs.configJson.json, inputs.configJson.where));
    for (const f of files) {
      const fromMeta = configFromMetadata(f.metadata, f.name);
      if (fromMeta) sources.push({ where: `the __metadata__ of ${f.name}`, fields: fromMeta });
      if (f.config) sources.push({ where: `the llm.c header of ${f.name}`, fields: f.config });
    }
    if (inputs.config) sources.push(fullConfigSource(inputs.config, 'the given config'));
    const config = decideConfig(sources, inputs.what);
    const dropout = inputs.configJson ? dropoutFromHFJson(inputs.configJson.json, inputs.configJson.where) : files[0] && dropoutFromMetadata(files[0].metadata, files[0].name);
    // 4. Stored names to our parameters.
    const { params, tiedCopy, heads } = mapParams(tensors, config, inputs.what);
    return {
      what: inputs.what,
      format: files[0]!.format,
      config,
      dropout,
      params,
      metadata: files[0]!.metadata,
      files: files.map((f) => f.name),
      tiedCopy,
      heads,
      close: () => closeAll(files),
    };
  } catch (e) {
    await closeAll(files);
    await Promise.all(inputs.files.slice(files.length).map((s) => s.close().catch(() => undefined)));
    throw e;
  }
}

async function closeAll(files: TensorFile[]): Promise<void> {
  await Promise.all(files.map((f) => f.close().catch(() => undefined)));
}

/**
 * Read every parameter in order and hand it to `onParam` (e.g. to convert and upload it). The next
 * tensor is read while `onParam` works on the current one, so at most two are in memory (plus wte's
 * tied lm_head copy while they are compared).
 */
export async function readParams(ck: OpenedCheckpoint, onParam: (name: string, values: Float32Array) => void | Promise<void>): Promise<void> {
  const names = [...ck.params.keys()];
  const start = (i: number): Promise<Float32Array> | undefined => {
    if (i >= names.length) return undefined;
    const p = readParam(ck, names[i]!);
    p.catch(() => undefined); // awaited below; never an unhandled rejection if onParam throws first
    return p;
  };
  let next = start(0);
  for (let i = 0; i < names.length; i++) {
    const values = await next!;
    next = start(i + 1);
    await onParam(names[i]!, values);
  }
}

/** One parameter's values; reading wte also checks a tied lm_head copy against it. */
export async function readParam(ck: OpenedCheckpoint, name: string): Promise<Float32Array> {
  const values = await ck.params.get(name)!.read();
  if (name === 'wte.weight' && ck.tiedCopy) {
    const at = firstDifference(await ck.tiedCopy.read(), values);
    if (at >= 0) throw untiedCopyError(ck.what, at);
  }
  return values;
}

/** Every parameter's values in memory (for small models and tests; loadModel streams instead). */
export async function loadParams(ck: OpenedCheckpoint): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  await readParams(ck, (name, values) => void out.set(name, values));
  return out;
}

export interface LoadedCheckpoint {
  format: TensorFormat;
  config: GPT2Config;
  /** Canonical HF names and layouts, in `paramShapes` order. */
  params: Map<string, Float32Array>;
  /** safetensors `__metadata__` of the first file (empty for other formats). */
  metadata: Record<string, string>;
}

/**
 * A checkpoint file held in memory (any format), through the same pipeline. `configJson`: the
 * contents of its config.json, when it has one.
 */
export async function readCheckpointBytes(
  bytes: Uint8Array,
  opts: { fileName?: string; configJson?: HFGPT2ConfigJson; config?: GPT2Config } = {},
): Promise<LoadedCheckpoint> {
  const fileName = opts.fileName ?? '<checkpoint buffer>';
  const ck = await openCheckpointFrom({
    what: fileName,
    files: [bytesSource(bytes, fileName)],
    configJson: opts.configJson && { json: opts.configJson, where: 'the given config.json' },
    config: opts.config,
  });
  try {
    return { format: ck.format, config: ck.config, params: await loadParams(ck), metadata: ck.metadata };
  } finally {
    await ck.close();
  }
}
