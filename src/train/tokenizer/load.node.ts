// Node-only: tokenizers from names and files.

import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gpt2Tokenizer } from './gpt2';
import { hfTokenizerFromJSON } from './hf';
import type { Tokenizer } from './types';

/** "gpt2" -> GPT-2's tokenizer; a tokenizer.json path (or a directory holding one, as a Hugging Face model
 *  folder does) -> that byte-level BPE, named by the path as given. */
export function loadTokenizer(pathOrName: string, opts: { eotToken?: string } = {}): Tokenizer {
  if (pathOrName === 'gpt2' || pathOrName === 'r50k_base') return gpt2Tokenizer();
  let file = resolve(pathOrName);
  if (!existsSync(file)) {
    throw new Error(`tokenizer not found: ${file} (expected "gpt2" or a path to a Hugging Face tokenizer.json)`);
  }
  if (statSync(file).isDirectory()) {
    const inner = join(file, 'tokenizer.json');
    if (!existsSync(inner)) throw new Error(`tokenizer not found: directory ${file} has no tokenizer.json`);
    file = inner;
  }
  const text = readFileSync(file, 'utf8');
  try {
    return hfTokenizerFromJSON(text, { name: pathOrName, eotToken: opts.eotToken });
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** Writes tok.toJSON() (trained or loaded BPEs) as a tokenizer.json, atomically. */
export function saveTokenizer(path: string, tok: { toJSON(): object }): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, JSON.stringify(tok.toJSON()));
  renameSync(tmp, path);
}
