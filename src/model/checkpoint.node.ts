/**
 * Checkpoints on disk (Node), reading. The loader pipeline:
 *   resolveCheckpoint (source/resolve.node.ts: file | HF directory | hf:org/name[@rev])
 *   -> the tensor index over its files (source/tensors.ts: safetensors, torch .bin, llm.c)
 *   -> the config, decided in one place (source/config.ts)
 *   -> HF names to our parameters (source/names.ts)
 * (source/open.ts runs the last three). `openCheckpoint` opens a source once: its config, metadata
 * and tensor index come from that one open, and its tensors are read when asked (streamWeights
 * uploads them into a model). Writing is in checkpoint-write.node.ts.
 */

import { promises as fsp } from 'node:fs';

import type { GPT2Config } from './config';
import { CheckpointError } from '../util/errors';
import type { HFGPT2ConfigJson } from './source/config';
import { checkpointFiles } from './source/file.node';
import { loadParams, openCheckpointFrom, type LoadedCheckpoint, type OpenedCheckpoint } from './source/open';
import { resolveCheckpoint, type ResolveOptions, type ResolvedCheckpoint } from './source/resolve.node';
import type { ByteSource } from './source/bytes';

export { CheckpointError, resolveCheckpoint };
export type { LoadedCheckpoint, ResolvedCheckpoint, ResolveOptions };
export { hubCacheDir, findSnapshot } from './source/hub.node';

export interface ReadCheckpointOptions extends ResolveOptions {
  /** A config given by the caller; it must agree with what the checkpoint states. */
  config?: GPT2Config;
}

export interface OpenedFileCheckpoint extends OpenedCheckpoint {
  resolved: ResolvedCheckpoint;
}

async function readConfigJson(path: string): Promise<HFGPT2ConfigJson> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CheckpointError(`config.json not found: ${path}`);
    throw new CheckpointError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as HFGPT2ConfigJson;
  } catch (e) {
    throw new CheckpointError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Resolve a source and open its tensor index: headers only; read the tensors with readParams(). Close it after. */
export async function openCheckpoint(source: string, opts: ReadCheckpointOptions = {}): Promise<OpenedFileCheckpoint> {
  const resolved = await resolveCheckpoint(source, opts);
  const configJson = resolved.configPath ? { json: await readConfigJson(resolved.configPath), where: resolved.configPath } : undefined;
  const files: ByteSource[] = [];
  try {
    for (const f of resolved.weightFiles) files.push(await checkpointFiles.open(f));
  } catch (e) {
    await Promise.all(files.map((f) => f.close()));
    throw e;
  }
  const ck = await openCheckpointFrom({ what: source, files, index: resolved.index, configJson, config: opts.config });
  return { ...ck, resolved };
}

/**
 * Read a whole checkpoint into memory: every parameter as a Float32Array (small models, tests,
 * comparing weights on the CPU). Loading a model never does this: loadModel, streamWeightsFrom
 * (io.node.ts) and the trainer open the checkpoint and stream its tensors into the GPU.
 */
export async function readCheckpoint(source: string, opts: ReadCheckpointOptions = {}): Promise<LoadedCheckpoint & { resolved: ResolvedCheckpoint }> {
  const ck = await openCheckpoint(source, opts);
  try {
    return { format: ck.format, config: ck.config, params: await loadParams(ck), metadata: ck.metadata, resolved: ck.resolved };
  } finally {
    await ck.close();
  }
}

/** The config of a checkpoint, reading headers only. */
export async function readCheckpointConfig(source: string, opts: ReadCheckpointOptions = {}): Promise<GPT2Config> {
  const ck = await openCheckpoint(source, opts);
  await ck.close();
  return ck.config;
}
