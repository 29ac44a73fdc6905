/**
 * Checkpoints on disk (Node), writing: tensor by tensor (each parameter's values fetched only when
 * the writer reaches it), every file atomically (temp name, fsync, rename). The formats' writers are
 * source/safetensors-write.ts and source/llmc-write.ts; reading is checkpoint.node.ts.
 */

import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as nodePath from 'node:path';

import { paramShapes, type GPT2Config } from './config';
import { CheckpointError } from '../util/errors';
import { kernelFileSystem } from '../util/outputs.node';
import { openCheckpoint, type ReadCheckpointOptions } from './checkpoint.node';
import { configToHFJson, configToMetadata } from './source/config';
import { encodeFloat32 } from './source/dtype';
import { writeLlmcCheckpoint } from './source/llmc-write';
import { canonicalParamList, hfName } from './source/names';
import { readParam, type OpenedCheckpoint } from './source/open';
import type { SafetensorsDType } from './source/safetensors';
import { safetensorsHeader, type TensorPlan } from './source/safetensors-write';

export type CheckpointFormat = 'safetensors' | 'llmc';


/**
 * Write a file atomically: `path.tmp-<pid>-<rand>`, fsync, rename over `path`, then a
 * best-effort fsync of the directory. On failure the temp file is removed.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array | ((fh: fsp.FileHandle) => Promise<void>)): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx');
    if (typeof bytes === 'function') await bytes(fh);
    else await fh.writeFile(bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`cannot write ${path}: ${(e as Error).message}`);
  }
  await syncDir(nodePath.dirname(path));
}

async function syncDir(dir: string): Promise<void> {
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Directory fsync is not supported everywhere (e.g. Windows); the rename is still atomic.
  }
}

/** A parameter to write; its values are fetched only when the writer reaches it (e.g. downloaded from the GPU). */
export interface ParamSource {
  /** Canonical name. */
  name: string;
  shape: number[];
  values(): Promise<Float32Array>;
}

export interface WriteCheckpointOptions {
  /** Default: 'llmc' if the path ends in `.bin`, else 'safetensors'. */
  format?: CheckpointFormat;
  /** safetensors dtype (default F32). llm.c output is always fp32. */
  dtype?: SafetensorsDType;
  /** Extra safetensors `__metadata__` entries (cannot override the config keys). */
  metadata?: Record<string, string>;
  /** Directory output only: shards of at most this many bytes, with model.safetensors.index.json. */
  maxShardSize?: number;
  /** Called as the writer reaches each tensor: (parameters read so far, parameters in all). */
  onWriteProgress?: (done: number, total: number) => void;
}

const INDEX_FILE = 'model.safetensors.index.json';
const SINGLE_FILE = 'model.safetensors';
const SHARD_NAME = /^model-\d{5}-of-\d{5}\.safetensors$/;

/** The sources, each reporting to onWriteProgress when its values are fetched (the long part of a convert or merge). */
function reporting(sources: ParamSource[], onProgress?: (done: number, total: number) => void): ParamSource[] {
  if (!onProgress) return sources;
  const total = sources.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  let done = 0;
  return sources.map((p) => ({ ...p, values: async () => {
    const v = await p.values();
    onProgress((done += v.length), total);
    return v;
  } }));
}

function paramSources(config: GPT2Config, params: ReadonlyMap<string, Float32Array> | readonly ParamSource[]): ParamSource[] {
  if (Array.isArray(params)) {
    const want = paramShapes(config).map((p) => p.name).join(',');
    if ((params as ParamSource[]).map((p) => p.name).join(',') !== want) throw new CheckpointError(`parameters to save do not match the config's parameter list`);
    return params as ParamSource[];
  }
  return canonicalParamList(config, params as ReadonlyMap<string, Float32Array>).map(({ name, shape, data }) => ({ name, shape, values: async () => data }));
}

/** What writeCheckpoint writes for a path: `*.bin` an llm.c file, `*.safetensors` one file, anything else a model directory. */
export function outputKind(path: string): CheckpointFormat | 'directory' {
  return /\.bin$/i.test(path) ? 'llmc' : /\.safetensors$/i.test(path) ? 'safetensors' : 'directory';
}

/**
 * Save parameters:
 * - `*.safetensors` (or format 'safetensors'): one file, HF names, config in `__metadata__`;
 * - `*.bin` (or format 'llmc'): an llm.c fp32 checkpoint;
 * - anything else: a Hugging Face model directory (config.json + model.safetensors, or shards of at
 *   most `maxShardSize` bytes + model.safetensors.index.json) that transformers loads as it is.
 * Tensors are written one at a time; every file is written atomically (temp name, fsync, rename),
 * a sharded directory's index last.
 */
export async function writeCheckpoint(
  path: string,
  config: GPT2Config,
  params: ReadonlyMap<string, Float32Array> | readonly ParamSource[],
  opts: WriteCheckpointOptions = {},
): Promise<void> {
  const format = opts.format ?? outputKind(path);
  const sources = reporting(paramSources(config, params), opts.onWriteProgress);
  if (format !== 'directory' && opts.maxShardSize !== undefined) {
    throw new CheckpointError(`${path}: sharding (maxShardSize) writes a model directory; give a directory path instead of a file`);
  }
  // (a recursive mkdir under /proc never returns)
  if (kernelFileSystem(path)) throw new CheckpointError(`cannot write ${path}: ${kernelFileSystem(path)} is a kernel file system, not a place for checkpoints`);
  await fsp.mkdir(format === 'directory' ? path : nodePath.dirname(path), { recursive: true }).catch((e: Error) => {
    throw new CheckpointError(`cannot create ${path}: ${e.message}`);
  });
  if (format === 'llmc') {
    if (opts.dtype !== undefined && opts.dtype !== 'F32') throw new CheckpointError(`llm.c checkpoints are written as fp32 only, not ${opts.dtype} (${path})`);
    if (opts.metadata && Object.keys(opts.metadata).length > 0) throw new CheckpointError(`llm.c checkpoints cannot store metadata; write safetensors instead (${path})`);
    const all = new Map<string, Float32Array>();
    for (const p of sources) all.set(p.name, await p.values());
    await writeFileAtomic(path, writeLlmcCheckpoint(config, all));
    return;
  }
  const dtype = opts.dtype ?? 'F32';
  const metadata = configToMetadata(config);
  for (const [k, v] of Object.entries(opts.metadata ?? {})) if (!(k in metadata)) metadata[k] = v;
  if (format === 'safetensors') return writeSafetensors(path, sources, dtype, metadata);

  // A model directory.
  const bytesOf = (p: ParamSource) => p.shape.reduce((a, b) => a * b, 1) * (dtype === 'F32' ? 4 : 2);
  const shards: ParamSource[][] = [[]];
  let size = 0;
  for (const p of sources) {
    const n = bytesOf(p);
    if (opts.maxShardSize !== undefined && size > 0 && size + n > opts.maxShardSize) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(p);
    size += n;
  }
  const old = await fsp.readdir(path);
  const names = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  for (let i = 0; i < shards.length; i++) await writeSafetensors(nodePath.join(path, names[i]!), shards[i]!, dtype, metadata);
  await writeFileAtomic(nodePath.join(path, 'config.json'), json(configToHFJson(config, { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype])));
  if (shards.length > 1) {
    const weightMap: Record<string, string> = {};
    shards.forEach((s, i) => s.forEach((p) => (weightMap[hfName(p.name)] = names[i]!)));
    const total = sources.reduce((a, p) => a + bytesOf(p), 0);
    await writeFileAtomic(nodePath.join(path, INDEX_FILE), json({ metadata: { total_size: total }, weight_map: weightMap }));
  }
  // What a previous save left that the directory loader could pick instead (a stale index, single file or shard).
  const keep = new Set([...names, shards.length > 1 ? INDEX_FILE : '']);
  for (const f of old) {
    if ((f === INDEX_FILE || f === SINGLE_FILE || SHARD_NAME.test(f)) && !keep.has(f)) await fsp.rm(nodePath.join(path, f), { force: true });
  }
}

function json(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');
}

/** One safetensors file, written tensor by tensor: only one tensor's bytes in memory at a time. */
async function writeSafetensors(path: string, params: readonly ParamSource[], dtype: SafetensorsDType, metadata: Record<string, string>): Promise<void> {
  const plans: TensorPlan[] = params.map((p) => ({ name: hfName(p.name), dtype, shape: p.shape }));
  const { header } = safetensorsHeader(plans, metadata);
  await writeFileAtomic(path, async (fh) => {
    await fh.write(header);
    for (const p of params) {
      const values = await p.values();
      const n = p.shape.reduce((a, b) => a * b, 1);
      if (values.length !== n) throw new CheckpointError(`parameter '${p.name}' has ${values.length} elements, expected ${n} (shape [${p.shape.join(', ')}])`);
      await fh.write(encodeFloat32(values, dtype, `parameter '${p.name}'`));
    }
  });
}

/**
 * Convert any checkpoint source into a safetensors file or model directory (see writeCheckpoint),
 * tensor by tensor: e.g. a 10 GB pytorch_model.bin into 5 GB safetensors shards, in bounded memory.
 */
export async function convertCheckpoint(source: string, out: string, opts: ReadCheckpointOptions & WriteCheckpointOptions = {}): Promise<GPT2Config> {
  const ck = await openCheckpoint(source, opts);
  try {
    // an llm.c file has no place for metadata: the source's is dropped there (the config travels in its header)
    const metadata = (opts.format ?? outputKind(out)) === 'llmc' ? opts.metadata : { ...ck.metadata, ...opts.metadata };
    await writeCheckpoint(out, ck.config, openedParams(ck), { ...opts, metadata });
    return ck.config;
  } finally {
    await ck.close();
  }
}

/**
 * An opened checkpoint's parameters to write, each read (through readParam, which also checks a
 * tied lm_head copy against wte) only when the writer reaches it; `transform` changes a tensor on
 * its way out (mqg merge folds an adapter in).
 */
export function openedParams(ck: OpenedCheckpoint, transform?: (name: string, values: Float32Array) => Float32Array): ParamSource[] {
  return [...ck.params].map(([name, t]) => ({
    name,
    shape: t.shape,
    values: async () => {
      const values = await readParam(ck, name);
      return transform ? transform(name, values) : values;
    },
  }));
}
