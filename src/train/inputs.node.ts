// What every command that reads a model does first: find the weights (a run directory, a checkpoint
// directory or a file), the tokenizer that belongs to them, and check model, tokenizer and shards
// against each other (consistency.ts). `mqg sample`, `mqg eval-mcq`, `mqg eval` and
// `mqg finetune-mcq` call `checkModelInputs`; `mqg train` does the same in train-inputs.node.ts.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DataError, UsageError } from '../util/errors';
import { checkConsistency, type TokenizerRecord } from './consistency';
import { readShardHeader } from './data/shards.node';
import { listCheckpoints, RUN_FILES } from './rundir.node';
import { GPT2_TOKENIZER_HASH, loadTokenizerRecorded, tokenizerFromBytes, type LoadedTokenizer } from './tokenizer/load.node';
import { gpt2Tokenizer } from './tokenizer/gpt2';

/** The tokenizer a checkpoint records in its metadata (tokenizer_sha256, tokenizer_vocab_size). */
export function recordedTokenizer(metadata: Record<string, string> | undefined): TokenizerRecord | undefined {
  const hash = metadata?.tokenizer_sha256;
  if (!hash) return undefined;
  return { hash, vocabSize: Number(metadata!.tokenizer_vocab_size), name: metadata!.tokenizer_name };
}

/** The tokenizer stored with a checkpoint directory: its tokenizer.json copy (hash-checked) or the
 *  built-in GPT-2 one; undefined when the checkpoint records none. */
export function checkpointTokenizer(dir: string, record: TokenizerRecord | undefined): LoadedTokenizer | undefined {
  if (!record) return undefined;
  if (record.hash === GPT2_TOKENIZER_HASH) return { tokenizer: gpt2Tokenizer(), record };
  const file = join(dir, RUN_FILES.TOKENIZER_FILE);
  if (!existsSync(file)) throw new DataError(`${dir}: the checkpoint records a tokenizer (sha256 ${record.hash.slice(0, 12)}) but has no ${RUN_FILES.TOKENIZER_FILE}`);
  return tokenizerFromBytes(new Uint8Array(readFileSync(file)), file, record);
}

/** A run directory -> its newest checkpoint's model.safetensors; a checkpoint directory -> its
 *  model.safetensors; anything else is returned as given (a file, or an HF directory for the loader). */
export function resolveModelPath(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path;
  const ckpts = listCheckpoints(path);
  const dir = ckpts.length ? ckpts[ckpts.length - 1]!.dir : path;
  if (existsSync(join(dir, RUN_FILES.MODEL_FILE))) return join(dir, RUN_FILES.MODEL_FILE);
  if (existsSync(join(dir, RUN_FILES.ADAPTER_DIR))) {
    // a LoRA run saves its adapters only: the model is the base plus the adapter
    throw new DataError(
      `${dir} holds a LoRA adapter (${RUN_FILES.ADAPTER_DIR}/), not a model: fold it into its base with \`mqg merge\` ` +
        `and use the merged model, or give the base and --init-adapter ${join(dir, RUN_FILES.ADAPTER_DIR)}`,
    );
  }
  return ckpts.length ? join(dir, RUN_FILES.MODEL_FILE) : path;
}

/** The `__metadata__` of a safetensors file, reading only its header ({} for other files). */
export function safetensorsMetadata(path: string): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return {};
  }
  try {
    const size = fstatSync(fd).size;
    const len = Buffer.alloc(8);
    if (size < 8 || readSync(fd, len, 0, 8, 0) !== 8) return {};
    const n = Number(len.readBigUInt64LE(0));
    if (n > size - 8 || n > 1 << 28) return {};
    const header = Buffer.alloc(n);
    readSync(fd, header, 0, n, 8);
    return JSON.parse(header.toString('utf8')).__metadata__ ?? {};
  } catch {
    return {};
  } finally {
    closeSync(fd);
  }
}

export interface ModelInputs {
  /** The weights file (or directory) to load. */
  modelPath: string;
  /** The tokenizer: --tokenizer, else the checkpoint's own; undefined when none is needed and none exists. */
  tokenizer?: LoadedTokenizer;
  /** What the checkpoint records about its tokenizer. */
  recorded?: TokenizerRecord;
}

/**
 * Resolves and checks the inputs of a command that reads a model.
 *  - `checkpoint`: a run directory, checkpoint directory, safetensors/.bin file or HF directory;
 *  - `vocabSize`: the model's (from its config);
 *  - `tokenizer`: --tokenizer as given (else the checkpoint's recorded copy, or tokenizer.json beside it);
 *  - `shards`: token shard files the command will read;
 *  - `needTokenizer`: the command turns text into ids (sample, eval-mcq): no tokenizer is an error
 *    naming the checkpoint, never a silent GPT-2;
 *  - `metadata`: the checkpoint's safetensors metadata when the caller has it open (else its header is read).
 * Throws ConsistencyError (vocab or hash disagreement) or UsageError (no tokenizer where one is needed).
 */
export function checkModelInputs(o: { checkpoint: string; vocabSize: number; tokenizer?: string; shards?: string[]; needTokenizer: boolean; command: string; metadata?: Record<string, string> }): ModelInputs {
  const modelPath = resolveModelPath(o.checkpoint);
  const isDir = existsSync(modelPath) && statSync(modelPath).isDirectory();
  const dir = isDir ? modelPath : dirname(modelPath);
  const recorded = isDir ? undefined : recordedTokenizer(o.metadata ?? safetensorsMetadata(modelPath));
  let tokenizer: LoadedTokenizer | undefined;
  let source = '';
  if (o.tokenizer) {
    tokenizer = loadTokenizerRecorded(o.tokenizer);
    source = o.tokenizer;
  } else if (recorded) {
    tokenizer = checkpointTokenizer(dir, recorded);
    source = tokenizer ? join(dir, RUN_FILES.TOKENIZER_FILE) : '';
  } else if (existsSync(join(dir, RUN_FILES.TOKENIZER_FILE))) {
    source = join(dir, RUN_FILES.TOKENIZER_FILE);
    tokenizer = loadTokenizerRecorded(source);
  }
  if (!tokenizer && o.needTokenizer) {
    throw new UsageError(`mqg ${o.command}: ${o.checkpoint} records no tokenizer and has no tokenizer.json beside it: give --tokenizer (gpt2, or the tokenizer.json it was trained with)`);
  }
  checkConsistency({
    model: { source: o.checkpoint, vocabSize: o.vocabSize, tokenizer: recorded },
    tokenizer: tokenizer ? { source, record: tokenizer.record } : undefined,
    shards: (o.shards ?? []).map((f) => ({ source: f, ...readShardHeader(f) })),
  });
  return { modelPath, tokenizer, recorded };
}
