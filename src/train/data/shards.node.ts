// Node-only shard files: atomic write, read, directory listing, and text -> train/val shards.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { closeSync, openSync, readSync } from 'node:fs';
import { DataError } from '../../util/errors';
import { prepareOutput, writeFileAtomicSync } from '../../util/outputs.node';
import type { TokenizerRecord } from '../consistency';
import type { Tokenizer } from '../tokenizer/types';
import { SHARD_HEADER_BYTES, SHARD_MAX_VOCAB, decodeShard, decodeShardHeader, encodeShard, type ShardHeader } from './shards';

/** Writes an llm.c shard atomically: a temp file beside `path`, then rename, so readers never see half a file. */
export function writeShard(path: string, tokens: ArrayLike<number>, vocabSize: number, tokenizer?: TokenizerRecord): void {
  const bytes = encodeShard(tokens, vocabSize, tokenizer);
  writeAtomic(path, bytes);
}

export function readShard(path: string): Uint16Array {
  if (!existsSync(path)) throw new DataError(`shard not found: ${path}`);
  return decodeShard(readFileSync(path), path);
}

/** The header of a shard file alone (magic, count, recorded tokenizer). */
export function readShardHeader(path: string): ShardHeader {
  if (!existsSync(path)) throw new DataError(`shard not found: ${path}`);
  const fd = openSync(path, 'r');
  try {
    const buf = new Uint8Array(SHARD_HEADER_BYTES);
    const n = readSync(fd, buf, 0, SHARD_HEADER_BYTES, 0);
    return decodeShardHeader(buf.subarray(0, n), path);
  } finally {
    closeSync(fd);
  }
}

function writeAtomic(path: string, data: Uint8Array | string): void {
  prepareOutput(path, 'file', 'shard');
  writeFileAtomicSync(path, data);
}

export interface ShardList {
  /** Shards for training: the train .bin shards of a directory (by name, see shardSplit), or the file itself. */
  train: string[];
  /** The val .bin shards of a directory (empty for a single file). */
  val: string[];
}

/** A shard's split by its name's last `train` or `val` (`valid`, `validation`) word, words being
 *  separated by _ . - : `corpus-train_val_000000.bin` (from corpus-train.txt) is a val shard, and
 *  `interval_train_000000.bin` a train one. */
function shardSplit(file: string): 'train' | 'val' | undefined {
  const words = file.toLowerCase().split(/[_.-]/).filter((w) => w === 'train' || w === 'val' || w === 'valid' || w === 'validation');
  const last = words[words.length - 1];
  return last === undefined ? undefined : last === 'train' ? 'train' : 'val';
}

/** A shard file -> { train: [file], val: [] }; a directory -> its train and val .bin shards by name
 *  (shardSplit), sorted (a directory without train names uses all its non-val .bin files as train). */
export function listShards(pathOrDir: string): ShardList {
  if (!existsSync(pathOrDir)) throw new DataError(`no such shard file or directory: ${pathOrDir}`);
  if (!statSync(pathOrDir).isDirectory()) return { train: [pathOrDir], val: [] };
  const bins = readdirSync(pathOrDir)
    .filter((f) => f.endsWith('.bin'))
    .sort();
  if (bins.length === 0) throw new DataError(`no .bin shards in directory ${pathOrDir}`);
  const val = bins.filter((f) => shardSplit(f) === 'val');
  let train = bins.filter((f) => shardSplit(f) === 'train');
  if (train.length === 0) train = bins.filter((f) => shardSplit(f) !== 'val');
  return { train: train.map((f) => join(pathOrDir, f)), val: val.map((f) => join(pathOrDir, f)) };
}

export interface PrepareDataOptions {
  textFiles: string[];
  tokenizer: Tokenizer;
  outDir: string;
  /** Fraction of all tokens held out for validation: the LAST tokens of the stream (default 0.05). */
  valFraction?: number;
  /** Shard name prefix (default: the first text file's base name, e.g. "openstax-anatomy-physiology-2e"). */
  name?: string;
  /** What counts as a document: a whole file (default), or each blank-line-separated paragraph. */
  documents?: 'file' | 'paragraph';
  /** The tokenizer's identity, recorded in each shard's header (loadTokenizerRecorded / recordTokenizer). */
  tokenizerRecord?: TokenizerRecord;
  /** Called after each document is tokenized: (bytes of text done, bytes of all the inputs). */
  onProgress?: (done: number, total: number) => void;
  /** Documents given as text (the rows of a table, `--data`), after the files; `name` is then needed without files. */
  documentTexts?: string[];
}

export interface PrepareDataResult {
  trainPath: string;
  valPath: string;
  metaPath: string;
  trainTokens: number;
  valTokens: number;
  documents: number;
}

/** Tokenizes text files into one train and one val llm.c shard plus meta.json.
 *
 *  The token stream is, as in llm.c's data scripts, `eot doc0 eot doc1 eot doc2 ...` (the eot token before
 *  every document, the first included). The val shard is the LAST round(valFraction * N) tokens of that
 *  stream and the train shard the rest; the cut is at a token, so val may begin mid-document.
 *  A tokenizer with toJSON() (trained or tokenizer.json BPEs) is also saved as <outDir>/tokenizer.json. */
export function prepareData(opts: PrepareDataOptions): PrepareDataResult {
  const { tokenizer, outDir, textFiles } = opts;
  const valFraction = opts.valFraction ?? 0.05;
  if (!(valFraction >= 0 && valFraction < 1)) throw new DataError(`prepareData: valFraction must be in [0, 1), got ${valFraction}`);
  if (textFiles.length === 0 && !opts.documentTexts?.length) throw new DataError('prepareData: no text files given');
  if (tokenizer.vocabSize > SHARD_MAX_VOCAB) {
    throw new DataError(`prepareData: tokenizer ${tokenizer.name} has vocab size ${tokenizer.vocabSize}, more than the uint16 shard format holds (${SHARD_MAX_VOCAB})`);
  }
  const name = opts.name ?? basename(textFiles[0] ?? 'data', extname(textFiles[0] ?? '')).replace(/[^\w.-]+/g, '_');
  const docMode = opts.documents ?? 'file';

  let tokens = new Uint16Array(1 << 20);
  let n = 0;
  const push = (t: number) => {
    if (n === tokens.length) {
      const bigger = new Uint16Array(tokens.length * 2);
      bigger.set(tokens);
      tokens = bigger;
    }
    tokens[n++] = t;
  };
  let docs = 0;
  // progress in bytes of text: the inputs' sizes up front, each document's UTF-8 length as it is done
  const inputs = [
    ...textFiles.map((file) => ({ read: () => readTextFile(file), size: () => fileSize(file) })),
    ...(opts.documentTexts ?? []).map((t) => ({ read: () => t, size: () => Buffer.byteLength(t) })),
  ];
  const total = opts.onProgress ? inputs.reduce((n, x) => n + x.size(), 0) : 0;
  let done = 0;
  for (const input of inputs) {
    const text = input.read();
    const pieces = docMode === 'paragraph' ? text.split(/\n[ \t]*\n/).filter((p) => p.trim().length > 0) : [text];
    const fileEnd = done + (opts.onProgress ? input.size() : 0);
    for (const doc of pieces) {
      push(tokenizer.eotToken);
      for (const t of tokenizer.encode(doc)) push(t);
      docs++;
      if (opts.onProgress) opts.onProgress((done = Math.min(fileEnd, done + Buffer.byteLength(doc))), total);
    }
    if (opts.onProgress) opts.onProgress((done = fileEnd), total);
  }
  if (n === docs) throw new DataError(`prepareData: no text in ${textFiles.join(', ') || 'the documents given'} (only whitespace)`);
  const nVal = Math.round(valFraction * n);
  const train = tokens.subarray(0, n - nVal);
  const val = tokens.subarray(n - nVal, n);

  const trainPath = join(outDir, `${name}_train_000000.bin`);
  const valPath = join(outDir, `${name}_val_000000.bin`);
  const metaPath = join(outDir, 'meta.json');
  writeShard(trainPath, train, tokenizer.vocabSize, opts.tokenizerRecord);
  writeShard(valPath, val, tokenizer.vocabSize, opts.tokenizerRecord);
  let tokenizerFile: string | undefined;
  const maybeJson = (tokenizer as Partial<{ toJSON(): object }>).toJSON;
  if (typeof maybeJson === 'function') {
    tokenizerFile = 'tokenizer.json';
    writeAtomic(join(outDir, tokenizerFile), JSON.stringify(maybeJson.call(tokenizer)));
  }
  const meta = {
    format: 'llm.c shard v1 (uint16)',
    tokenizer: tokenizer.name,
    tokenizerFile,
    vocabSize: tokenizer.vocabSize,
    tokenizerSha256: opts.tokenizerRecord?.hash,
    eotToken: tokenizer.eotToken,
    documents: docs,
    documentMode: docMode,
    totalTokens: n,
    trainTokens: train.length,
    valTokens: val.length,
    valFraction,
    valSplit: 'last',
    train: basename(trainPath),
    val: basename(valPath),
    sources: textFiles.map((f) => basename(f)),
  };
  writeAtomic(metaPath, JSON.stringify(meta, null, 2) + '\n');
  return { trainPath, valPath, metaPath, trainTokens: train.length, valTokens: val.length, documents: docs };
}

/** A file's size for progress (0 where it cannot be read: readTextFile says why). */
function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** A text file as UTF-8: a DataError for a missing, empty, whitespace-only or binary file. */
export function readTextFile(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new DataError(`cannot read text file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (bytes.length === 0) throw new DataError(`text file ${file} is empty`);
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new DataError(`text file ${file} is binary (a NUL byte at offset ${nul}), not text`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new DataError(`text file ${file} is not valid UTF-8`);
  }
  if (!text.trim()) throw new DataError(`text file ${file} holds only whitespace`);
  return text;
}
