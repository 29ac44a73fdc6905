/**
 * The tensor index: every tensor of a checkpoint, over one or many files of any format, by its
 * stored name, each read only when asked: each file opened by the reader its first bytes name
 * (safetensors.ts, torch.ts, llmc.ts), checked against a shard index. Browser-safe.
 */

import { CheckpointError } from '../../util/errors';
import type { ByteSource } from './bytes';
import { LLMC_MAGIC, openLlmc } from './llmc';
import { openSafetensors } from './safetensors';
import type { TensorEntry, TensorFile, TensorFormat } from './tensor-file';
import { isLegacyTorch, openTorch } from './torch';

/** The format of a file from its first bytes: llm.c magic, zip (torch.save), or a safetensors JSON header. */
export function detectFormat(head: Uint8Array, fileName = ''): TensorFormat {
  if (head.byteLength >= 4 && new DataView(head.buffer, head.byteOffset, 4).getInt32(0, true) === LLMC_MAGIC) return 'llmc';
  if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'torch';
  if (head.byteLength >= 9 && head[8] === 0x7b /* '{' */) return 'safetensors';
  if (isLegacyTorch(head)) return 'torch';
  // Unrecognised: let the parser the name suggests report what is wrong.
  return /\.bin$/i.test(fileName) ? (/pytorch_model/i.test(fileName) ? 'torch' : 'llmc') : 'safetensors';
}

/** Open one checkpoint file of any format: reads its header/directory only. */
export async function openTensorFile(src: ByteSource): Promise<TensorFile> {
  const head = await src.read(0, Math.min(16, src.size));
  const format = detectFormat(head, src.name);
  if (format === 'llmc') return openLlmc(src);
  if (format === 'torch') {
    if (isLegacyTorch(head)) {
      throw new CheckpointError(
        `PyTorch file '${src.name}' uses the legacy (pre-1.6, non-zip) torch.save format; re-save it with a current torch or convert it to safetensors`,
      );
    }
    return openTorch(src);
  }
  // a JSON header starts right after the 8-byte length; anything else (a tokenizer.json, random bytes) is no checkpoint at all
  if (head.byteLength >= 9 && head[8] !== 0x7b) {
    throw new CheckpointError(`${src.name} is not a checkpoint file: not safetensors (no JSON header after the 8-byte length), a PyTorch zip or an llm.c .bin`);
  }
  return openSafetensors(src);
}

/** A sharded checkpoint's index (`model.safetensors.index.json`, `pytorch_model.bin.index.json`). */
export interface ShardIndex {
  /** The index file (for messages). */
  name: string;
  /** Stored tensor name -> shard file name (relative to the index's directory). */
  weightMap: Record<string, string>;
}

/** Parse an index file's text; `name` names it in errors. */
export function parseShardIndex(text: string, name: string): ShardIndex {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`index file ${name} is not valid JSON: ${(e as Error).message}`);
  }
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map) || !Object.values(map).every((v) => typeof v === 'string')) {
    throw new CheckpointError(`index file ${name} has no weight_map object of tensor name -> shard file`);
  }
  return { name, weightMap: map as Record<string, string> };
}

/** The shard files an index names, in first-mention order. */
export function shardFiles(index: ShardIndex): string[] {
  return [...new Set(Object.values(index.weightMap))];
}

/**
 * Every tensor of the files by stored name. With an index, each tensor it names must be in the
 * shard it names (file names compared by their last path component).
 */
export function indexTensors(files: readonly TensorFile[], index?: ShardIndex): Map<string, TensorEntry> {
  const base = (f: string) => f.split(/[\\/]/).pop()!;
  const out = new Map<string, TensorEntry>();
  for (const f of files) {
    for (const t of f.tensors) {
      const prev = out.get(t.name);
      if (prev) throw new CheckpointError(`tensor '${t.name}' is stored twice: in ${prev.file} and in ${f.name}`);
      out.set(t.name, t);
    }
  }
  if (index) {
    const byBase = new Map(files.map((f) => [base(f.name), f]));
    for (const [tensor, shard] of Object.entries(index.weightMap)) {
      const f = byBase.get(base(shard));
      if (!f) throw new CheckpointError(`${index.name} names shard '${shard}' (for '${tensor}'), which is missing`);
      const t = out.get(tensor);
      if (!t || base(t.file) !== base(shard)) {
        throw new CheckpointError(`${index.name} says tensor '${tensor}' is in '${shard}', but ${t ? `it is in '${t.file}'` : `'${shard}' does not contain it`}`);
      }
    }
  }
  return out;
}
