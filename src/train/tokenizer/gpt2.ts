// GPT-2's tokenizer (r50k_base: 50,257 ids, <|endoftext|> = 50256) via gpt-tokenizer, which ships the
// vocabulary, so it works offline and in the browser. Decoding goes through our own byte table, joined over
// the whole sequence (gpt-tokenizer's decode keeps partial characters in a shared streaming decoder).

import r50kEncoding from 'gpt-tokenizer/encoding/r50k_base';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import { utf8Decode, utf8Encode } from './bytes';
import { splitOnSpecials } from './bpe';
import type { EncodeOptions, Tokenizer } from './types';

export const GPT2_VOCAB_SIZE = 50257;
export const GPT2_EOT = 50256;

/** GPT-2's byte-level BPE (r50k_base, 50,257 ids); get the shared instance with `gpt2Tokenizer()` or `loadGpt2Tokenizer()`. */
export class Gpt2Tokenizer implements Tokenizer {
  readonly name = 'gpt2';
  readonly vocabSize = GPT2_VOCAB_SIZE;
  readonly eotToken = GPT2_EOT;
  /** Special tokens by text: `<|endoftext|>` = 50256. */
  readonly specials: ReadonlyMap<string, number> = new Map([['<|endoftext|>', GPT2_EOT]]);
  private idToBytes: Uint8Array[] | undefined;
  // Treat every special token as plain text: a literal "<|endoftext|>" in a document is not a separator.
  private static readonly PLAIN = { disallowedSpecial: new Set<string>() };

  encode(text: string, opts?: EncodeOptions): number[] {
    if (opts?.allowedSpecial === undefined) return r50kEncoding.encode(text, Gpt2Tokenizer.PLAIN);
    const out: number[] = [];
    splitOnSpecials(text, this.specials, opts.allowedSpecial, (piece, id) => {
      if (id !== undefined) out.push(id);
      else for (const t of r50kEncoding.encode(piece, Gpt2Tokenizer.PLAIN)) out.push(t);
    });
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    const table = (this.idToBytes ??= buildTable());
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = table[ids[i]];
      if (b === undefined) throw new Error(`gpt2: cannot decode token id ${ids[i]} at position ${i}: not in the vocabulary (size ${GPT2_VOCAB_SIZE})`);
      total += b.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = table[ids[i]];
      all.set(b, o);
      o += b.length;
    }
    return utf8Decode(all);
  }

  /** The bytes of token id (undefined outside the vocabulary). */
  tokenBytes(id: number): Uint8Array | undefined {
    return (this.idToBytes ??= buildTable())[id];
  }
}

function buildTable(): Uint8Array[] {
  const ranks = r50kRanks as (string | number[])[];
  const table: Uint8Array[] = new Array(GPT2_VOCAB_SIZE);
  for (let id = 0; id < ranks.length; id++) {
    const r = ranks[id];
    if (r === undefined) continue;
    table[id] = typeof r === 'string' ? utf8Encode(r) : Uint8Array.from(r);
  }
  table[GPT2_EOT] = utf8Encode('<|endoftext|>');
  return table;
}

let shared: Gpt2Tokenizer | undefined;

/** GPT-2's BPE tokenizer (one shared instance). */
export function gpt2Tokenizer(): Gpt2Tokenizer {
  return (shared ??= new Gpt2Tokenizer());
}
