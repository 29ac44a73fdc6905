/**
 * Step 1 of the loader: what a checkpoint source names, as files (Node).
 *   a file            its weights (`*.safetensors`, `pytorch_model*.bin`, an llm.c `.bin`) or a
 *                     shard index (`*.index.json`); config.json / tokenizer.json beside it count
 *   a directory       a Hugging Face model directory: config.json, the weights (first found of
 *                     model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json,
 *                     pytorch_model.bin), tokenizer.json when present
 *   a run directory   (checkpoints/step-N/ as mqg train writes them) its newest checkpoint directory,
 *                     named in `run` so that commands can say which one they took
 *   hf:org/name[@rev] that model in the local Hugging Face cache (downloaded into it if absent)
 */

import { existsSync, promises as fsp } from 'node:fs';
import * as nodePath from 'node:path';
import { CheckpointError } from '../../util/errors';
import { parseShardIndex, shardFiles, type ShardIndex } from './tensors';
import { parseHubId, resolveHubModel, type HubOptions } from './hub.node';
import { newestCheckpoint } from './rundir.node';

export interface ResolvedCheckpoint {
  /** What was asked for. */
  source: string;
  /** The model directory, when the source is one (an HF directory or a cache snapshot). */
  dir?: string;
  /** Weight files to open: one file, or every shard an index names. */
  weightFiles: string[];
  index?: ShardIndex & { path: string };
  /** config.json to read, when there is one. */
  configPath?: string;
  /** tokenizer.json in the model directory (or beside the file), when present. */
  tokenizerPath?: string;
  /** For a run directory: the run and the checkpoint directory taken (its newest). */
  run?: { dir: string; checkpoint: string; step: number };
  /** For hf: sources: the repo, the revision asked for, the snapshot's commit and the cache searched. */
  hub?: { repo: string; revision: string; commit: string; cacheDir: string };
}

export interface ResolveOptions extends HubOptions {
  /** A config.json to use instead of the one in the directory / beside the file (must exist). */
  configJsonPath?: string;
}

/** Weight files of a model directory, in the order transformers prefers them. */
export const DIRECTORY_WEIGHTS = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'] as const;

async function kind(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const st = await fsp.stat(path);
    return st.isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}

export async function resolveCheckpoint(source: string, opts: ResolveOptions = {}): Promise<ResolvedCheckpoint> {
  const hubId = parseHubId(source);
  if (hubId) {
    const hub = await resolveHubModel(hubId.repo, hubId.revision, opts, hubId.subfolder);
    return { ...(await resolveDirectory(hub.dir, source, opts)), hub };
  }
  const k = await kind(source);
  if (k === undefined) throw new CheckpointError(`checkpoint file not found: ${source}`);
  if (k === 'dir') {
    const newest = DIRECTORY_WEIGHTS.some((f) => existsSync(nodePath.join(source, f))) ? undefined : newestCheckpoint(source);
    if (newest) return { ...(await resolveDirectory(newest.dir, source, opts)), run: { dir: source, checkpoint: newest.dir, step: newest.step } };
    return resolveDirectory(source, source, opts);
  }
  const dir = nodePath.dirname(source);
  const beside = (name: string) => (existsSync(nodePath.join(dir, name)) ? nodePath.join(dir, name) : undefined);
  const r: ResolvedCheckpoint = { source, weightFiles: [source], configPath: beside('config.json'), tokenizerPath: beside('tokenizer.json') };
  if (/\.index\.json$/i.test(source)) Object.assign(r, await readIndex(source));
  return withConfigOverride(r, opts);
}

async function resolveDirectory(dir: string, source: string, opts: ResolveOptions): Promise<ResolvedCheckpoint> {
  const at = (name: string) => nodePath.join(dir, name);
  const weights = DIRECTORY_WEIGHTS.find((f) => existsSync(at(f)));
  if (!weights) {
    const present = (await fsp.readdir(dir)).filter((f) => /\.(safetensors|bin|json)$/i.test(f));
    throw new CheckpointError(
      `${source} is a directory without model weights: expected one of ${DIRECTORY_WEIGHTS.join(', ')}` +
        (present.length ? ` (found ${present.join(', ')}; name a file to load it)` : ''),
    );
  }
  const r: ResolvedCheckpoint = {
    source,
    dir,
    weightFiles: [at(weights)],
    configPath: existsSync(at('config.json')) ? at('config.json') : undefined,
    tokenizerPath: existsSync(at('tokenizer.json')) ? at('tokenizer.json') : undefined,
  };
  if (weights.endsWith('.index.json')) Object.assign(r, await readIndex(at(weights)));
  return withConfigOverride(r, opts);
}

async function readIndex(path: string): Promise<Pick<ResolvedCheckpoint, 'index' | 'weightFiles'>> {
  const index = { ...parseShardIndex(await fsp.readFile(path, 'utf8'), path), path };
  const dir = nodePath.dirname(path);
  const weightFiles = shardFiles(index).map((f) => nodePath.join(dir, f));
  for (const f of weightFiles) {
    if (!existsSync(f)) throw new CheckpointError(`${path} names shard '${nodePath.basename(f)}', which is missing from ${dir}`);
  }
  return { index, weightFiles };
}

function withConfigOverride(r: ResolvedCheckpoint, opts: ResolveOptions): ResolvedCheckpoint {
  return opts.configJsonPath === undefined ? r : { ...r, configPath: opts.configJsonPath };
}
