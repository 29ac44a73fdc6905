// Node-only: tokenizers from names and files.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { DataError } from '../../util/errors';
import { prepareOutput, writeFileAtomicSync } from '../../util/outputs.node';
import type { TokenizerRecord } from '../consistency';
import { gpt2Tokenizer } from './gpt2';
import { hfTokenizerFromJSON } from './hf';
import type { Tokenizer } from './types';

/** A tokenizer with its identity (content hash) and, for a file-based one, the bytes to copy. */
export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  record: TokenizerRecord;
  /** The tokenizer.json bytes (absent for the built-in GPT-2 tokenizer). */
  json?: Uint8Array;
}

export const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
/** The hash that stands for the built-in GPT-2 tokenizer (it has no tokenizer.json). */
export const GPT2_TOKENIZER_HASH = sha256('builtin:gpt2');

/** Like loadTokenizer, with the record (SHA-256 of the file bytes, vocab size) and the bytes. */
export function loadTokenizerRecorded(pathOrName: string, name?: string): LoadedTokenizer {
  const tokenizer = loadTokenizer(pathOrName);
  if (pathOrName === 'gpt2' || pathOrName === 'r50k_base') return { tokenizer, record: { hash: GPT2_TOKENIZER_HASH, vocabSize: tokenizer.vocabSize, name: 'gpt2' } };
  let file = resolve(pathOrName);
  if (statSync(file).isDirectory()) file = join(file, 'tokenizer.json');
  const json = new Uint8Array(readFileSync(file));
  // the name is informative only, and never a path (a run directory must be relocatable)
  return { tokenizer, record: { hash: sha256(json), vocabSize: tokenizer.vocabSize, name: name ?? basename(file) }, json };
}

/** A tokenizer from its tokenizer.json bytes (a checkpoint's copy), checked against the recorded hash. */
export function tokenizerFromBytes(json: Uint8Array, source: string, expected?: TokenizerRecord): LoadedTokenizer {
  const hash = sha256(json);
  if (expected && expected.hash !== hash) throw new DataError(`${source}: its SHA-256 (${hash.slice(0, 12)}) is not the recorded one (${expected.hash.slice(0, 12)}); the file was changed`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = hfTokenizerFromJSON(new TextDecoder().decode(json), { name: source });
  } catch (e) {
    throw new DataError(`${source}: ${(e as Error).message}`);
  }
  return { tokenizer, record: { hash, vocabSize: tokenizer.vocabSize, name: expected?.name ?? source }, json };
}

/** A tokenizer built in memory (trainBpe), with the bytes saveTokenizer writes. */
export function recordTokenizer(tok: Tokenizer & { toJSON(): object }): LoadedTokenizer {
  const json = new TextEncoder().encode(JSON.stringify(tok.toJSON()));
  return { tokenizer: tok, record: { hash: sha256(json), vocabSize: tok.vocabSize, name: tok.name }, json };
}

/** "gpt2" -> GPT-2's tokenizer; a tokenizer.json path (or a directory holding one, as a Hugging Face model
 *  folder does) -> that byte-level BPE, named by the path as given. */
export function loadTokenizer(pathOrName: string, opts: { eotToken?: string } = {}): Tokenizer {
  if (pathOrName === 'gpt2' || pathOrName === 'r50k_base') return gpt2Tokenizer();
  let file = resolve(pathOrName);
  if (!existsSync(file)) {
    throw new DataError(`tokenizer not found: ${file} (expected "gpt2" or a path to a Hugging Face tokenizer.json)`);
  }
  if (statSync(file).isDirectory()) {
    const inner = join(file, 'tokenizer.json');
    if (!existsSync(inner)) throw new DataError(`tokenizer not found: directory ${file} has no tokenizer.json`);
    file = inner;
  }
  const text = readFileSync(file, 'utf8');
  try {
    return hfTokenizerFromJSON(text, { name: pathOrName, eotToken: opts.eotToken });
  } catch (e) {
    throw new DataError(`${file}: ${(e as Error).message}`);
  }
}

/** Writes tok.toJSON() (trained or loaded BPEs) as a tokenizer.json, atomically. */
export function saveTokenizer(path: string, tok: { toJSON(): object }): void {
  prepareOutput(path, 'file', 'tokenizer');
  writeFileAtomicSync(path, JSON.stringify(tok.toJSON()));
}
