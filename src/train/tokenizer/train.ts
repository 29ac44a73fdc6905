// Byte-level BPE trainer (the GPT-2 recipe): ids 0..255 are the bytes, then one id per learned merge, then
// the special tokens (<|endoftext|> last). Text is split with GPT-2's pre-tokenization regex, identical
// pre-tokens are counted once with their frequency, and pair counts are updated incrementally as each merge
// rewrites only the words that contain the pair (as in Hugging Face's BpeTrainer), so a merge costs time
// proportional to the words it touches, not to the corpus.

import { BYTE_TO_CHAR } from './bytes';
import { BpeTokenizer } from './bpe';
import type { HfTokenizerJson } from './hf';
import { GPT2_SPLIT_PATTERN, forEachPretoken, gpt2SplitRegex } from './pretokenize';

/** Options of trainBpe. Every field is optional. */
export interface TrainBpeOptions {
  /** Stop early when the most frequent pair occurs fewer times than this (default 2); the vocab is then
   *  smaller than asked for. */
  minFrequency?: number;
  /** Special tokens appended after the merges, in order (default ["<|endoftext|>"]). The first is the eot. */
  specialTokens?: string[];
  /** Tokenizer.name (default `bpe-${vocabSize}`). */
  name?: string;
  /** Called every 256 merges and at the end with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/** Train a byte-level BPE with `vocabSize` ids (256 bytes + merges + special tokens) on texts, GPT-2 pre-tokenisation. */
export function trainBpe(texts: string[], vocabSize: number, opts: TrainBpeOptions = {}): BpeTokenizer {
  const specialTokens = opts.specialTokens ?? ['<|endoftext|>'];
  const minFrequency = Math.max(1, opts.minFrequency ?? 2);
  if (specialTokens.length === 0) throw new Error('trainBpe: specialTokens must contain the end-of-text token');
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + specialTokens.length) {
    throw new Error(`trainBpe: vocabSize must be an integer >= ${256 + specialTokens.length} (256 bytes + special tokens), got ${vocabSize}`);
  }
  if (vocabSize > 1 << 21) throw new Error(`trainBpe: vocabSize ${vocabSize} is too large (max ${1 << 21})`);
  const targetTokens = vocabSize - specialTokens.length; // bytes + merged tokens

  // 1. Count pre-token words.
  const wordFreq = new Map<string, number>();
  const re = gpt2SplitRegex();
  for (const text of texts) {
    forEachPretoken(text, re, (s, e) => {
      const w = text.slice(s, e);
      wordFreq.set(w, (wordFreq.get(w) ?? 0) + 1);
    });
  }

  // 2. Words as byte-id sequences (only words with at least one pair matter).
  const enc = new TextEncoder();
  const words: Int32Array[] = [];
  const lens: number[] = [];
  const freqs: number[] = [];
  for (const [w, f] of wordFreq) {
    const bytes = enc.encode(w);
    if (bytes.length < 2) continue;
    words.push(Int32Array.from(bytes));
    lens.push(bytes.length);
    freqs.push(f);
  }
  wordFreq.clear();

  // 3. Initial pair counts and, per pair, the words containing it (may hold stale entries; never duplicates
  //    in a row).
  const V = vocabSize; // pair key = left * V + right
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const addWhere = (key: number, w: number) => {
    let list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, (list = []));
    if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const syms = words[w];
    const f = freqs[w];
    for (let i = 0; i + 1 < lens[w]; i++) {
      const key = syms[i] * V + syms[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      addWhere(key, w);
    }
  }

  // 4. Max-heap of (count, key), ties to the smaller key so training is deterministic. Entries go stale when
  //    counts drop; a popped entry whose count differs from the live count is re-pushed with the live count.
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  const tokStr: string[] = BYTE_TO_CHAR.slice(); // id -> byte-level token string
  const strToId = new Map<string, number>(tokStr.map((s, i) => [s, i]));
  const merges: [number, number, number][] = [];
  const merged = new Set<number>();
  const wanted = targetTokens - 256;
  let nTokens = 256;

  while (nTokens < targetTokens && heap.size > 0) {
    const [c, key] = heap.pop();
    const live = pairCount.get(key) ?? 0;
    if (live !== c) {
      if (live > 0) heap.push(live, key);
      continue;
    }
    if (c < minFrequency) break;
    const a = Math.floor(key / V);
    const b = key - a * V;
    const s = tokStr[a] + tokStr[b];
    let m = strToId.get(s);
    if (m === undefined) {
      // (Two different merges can spell the same bytes, e.g. (x, yz) after (xy, z): reuse the id, as
      // Hugging Face does, so token strings stay unique in tokenizer.json.)
      m = nTokens++;
      tokStr.push(s);
      strToId.set(s, m);
    }
    if (!merged.has(key)) {
      merged.add(key);
      merges.push([a, b, m]);
    }

    // Rewrite every word containing (a, b), updating neighbour pair counts by the word's frequency.
    const touched = new Set<number>();
    const bump = (k: number, d: number) => {
      const v = (pairCount.get(k) ?? 0) + d;
      if (v === 0) pairCount.delete(k);
      else pairCount.set(k, v);
    };
    for (const w of pairWords.get(key) ?? []) {
      const syms = words[w];
      const n = lens[w];
      const f = freqs[w];
      let i = 0;
      let j = 0;
      while (i < n) {
        if (i + 1 < n && syms[i] === a && syms[i + 1] === b) {
          if (j > 0) {
            const p = syms[j - 1];
            bump(p * V + a, -f);
            const k = p * V + m;
            bump(k, f);
            touched.add(k);
            addWhere(k, w);
          }
          if (i + 2 < n) {
            const q = syms[i + 2];
            bump(b * V + q, -f);
            const k = m * V + q;
            bump(k, f);
            touched.add(k);
            addWhere(k, w);
          }
          syms[j++] = m;
          i += 2;
        } else {
          syms[j++] = syms[i++];
        }
      }
      lens[w] = j;
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const k of touched) {
      const v = pairCount.get(k);
      if (v !== undefined && v > 0) heap.push(v, k);
    }
    if (opts.onProgress && merges.length % 256 === 0) opts.onProgress(nTokens - 256, wanted);
  }
  opts.onProgress?.(nTokens - 256, wanted);

  return buildTrainedTokenizer(tokStr, merges, specialTokens, opts.name ?? `bpe-${vocabSize}`);
}

function buildTrainedTokenizer(
  tokStr: string[],
  merges: [number, number, number][],
  specialTokens: string[],
  name: string,
): BpeTokenizer {
  const nTokens = tokStr.length;
  const idToBytes: Uint8Array[] = new Array(nTokens + specialTokens.length);
  for (let b = 0; b < 256; b++) idToBytes[b] = Uint8Array.of(b);
  for (const [a, b, m] of merges) {
    if (idToBytes[m] !== undefined) continue;
    const x = idToBytes[a];
    const y = idToBytes[b];
    const z = new Uint8Array(x.length + y.length);
    z.set(x);
    z.set(y, x.length);
    idToBytes[m] = z;
  }
  const enc = new TextEncoder();
  const specials = new Map<string, number>();
  specialTokens.forEach((s, i) => {
    specials.set(s, nTokens + i);
    idToBytes[nTokens + i] = enc.encode(s);
  });
  const byteIds = Int32Array.from({ length: 256 }, (_, i) => i);

  const json = (): HfTokenizerJson => {
    const vocab: Record<string, number> = {};
    for (let i = 0; i < nTokens; i++) vocab[tokStr[i]] = i;
    specialTokens.forEach((s, i) => (vocab[s] = nTokens + i));
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: specialTokens.map((s, i) => ({
        id: nTokens + i,
        content: s,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE',
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: '',
        end_of_word_suffix: '',
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: merges.map(([a, b]) => `${tokStr[a]} ${tokStr[b]}`),
      },
    };
  };

  return new BpeTokenizer({
    name,
    idToBytes,
    byteIds,
    merges,
    specials,
    eotToken: specials.get(specialTokens[0])!,
    splitRegex: new RegExp(GPT2_SPLIT_PATTERN, 'gu'),
    json,
  });
}

/** Binary max-heap over (count, key) pairs in two parallel arrays; ties pop the smaller key first. */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];

  get size(): number {
    return this.c.length;
  }

  private above(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }

  push(count: number, key: number): void {
    const c = this.c;
    const k = this.k;
    let i = c.length;
    c.push(count);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(count, key, c[p], k[p])) break;
      c[i] = c[p];
      k[i] = k[p];
      i = p;
    }
    c[i] = count;
    k[i] = key;
  }

  pop(): [number, number] {
    const c = this.c;
    const k = this.k;
    const top: [number, number] = [c[0], k[0]];
    const lc = c.pop()!;
    const lk = k.pop()!;
    const n = c.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const ch = r < n && this.above(c[r], k[r], c[l], k[l]) ? r : l;
        if (!this.above(c[ch], k[ch], lc, lk)) break;
        c[i] = c[ch];
        k[i] = k[ch];
        i = ch;
      }
      c[i] = lc;
      k[i] = lk;
    }
    return top;
  }
}
