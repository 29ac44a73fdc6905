// Byte-level BPE: the encoder/decoder shared by Hugging Face tokenizer.json files and trained vocabularies.
//
// A word (one pre-token) starts as one token per UTF-8 byte; then, like tiktoken and Hugging Face, the
// adjacent pair with the lowest merge rank (leftmost on ties) is merged, one at a time, until no pair has a
// rank. Results are cached per word, so ordinary text costs one Map lookup per pre-token.

import { bytesToTokenString, utf8Decode, utf8EncodeInto } from './bytes';
import { forEachPretoken } from './pretokenize';
import type { EncodeOptions, Tokenizer } from './types';

export interface BpeSpec {
  name: string;
  /** id -> the bytes it stands for; holes allowed (ids no token uses). */
  idToBytes: (Uint8Array | undefined)[];
  /** Token id of each single byte 0..255. */
  byteIds: ArrayLike<number>;
  /** Merges in rank order: [left id, right id, merged id]. */
  merges: ArrayLike<readonly [number, number, number]>;
  /** Special tokens (text -> id). Their ids decode to their text. */
  specials: Map<string, number>;
  eotToken: number;
  /** Pre-tokenizer split (global + unicode flags). */
  splitRegex: RegExp;
  /** Prepend a space when the text does not start with one (ByteLevel add_prefix_space). */
  addPrefixSpace?: boolean;
  /** Text normalisation applied before splitting (tokenizer.json normalizer). */
  normalize?: (text: string) => string;
  /** Hugging Face ignore_merges: a pre-token that is itself in the vocab maps straight to its id. */
  wholeWordVocab?: Map<string, number>;
  /** What toJSON() returns (tokenizer.json object). */
  json?: () => object;
}

const CACHE_LIMIT = 200_000;
const SHORT_WORD = 48; // below this, rescanning for the best pair beats a heap

/** A byte-level BPE (GPT-2 style): from `trainBpe`, or a Hugging Face tokenizer.json through `hfTokenizerFromJSON`. `toJSON()` gives the tokenizer.json. */
export class BpeTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly eotToken: number;
  /** Special tokens by text. */
  readonly specials: ReadonlyMap<string, number>;
  private readonly idToBytes: (Uint8Array | undefined)[];
  private readonly byteIds: Int32Array;
  private readonly V: number; // pair key = left * V + right
  private readonly rank = new Map<number, number>();
  private readonly mergedId: Int32Array;
  private readonly re: RegExp;
  private readonly addPrefixSpace: boolean;
  private readonly normalize?: (text: string) => string;
  private readonly wholeWordVocab?: Map<string, number>;
  private readonly jsonFn?: () => object;
  private cache = new Map<string, number[]>();
  private buf = new Uint8Array(1024);

  constructor(spec: BpeSpec) {
    this.name = spec.name;
    this.idToBytes = spec.idToBytes;
    this.vocabSize = spec.idToBytes.length;
    this.eotToken = spec.eotToken;
    this.specials = spec.specials;
    this.V = Math.max(this.vocabSize, 1);
    if (spec.byteIds.length !== 256) throw new Error(`BPE "${spec.name}": byteIds must have 256 entries`);
    this.byteIds = Int32Array.from(spec.byteIds);
    const n = spec.merges.length;
    this.mergedId = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const [a, b, m] = spec.merges[r];
      const key = a * this.V + b;
      // A pair listed twice keeps its first (lowest) rank.
      if (!this.rank.has(key)) this.rank.set(key, r);
      this.mergedId[r] = m;
    }
    this.re = new RegExp(spec.splitRegex.source, spec.splitRegex.flags.includes('g') ? spec.splitRegex.flags : spec.splitRegex.flags + 'g');
    this.addPrefixSpace = spec.addPrefixSpace ?? false;
    this.normalize = spec.normalize;
    this.wholeWordVocab = spec.wholeWordVocab;
    this.jsonFn = spec.json;
  }

  /** Number of merge rules. */
  get numMerges(): number {
    return this.mergedId.length;
  }

  encode(text: string, opts?: EncodeOptions): number[] {
    const out: number[] = [];
    if (opts?.allowedSpecial !== undefined) {
      splitOnSpecials(text, this.specials, opts.allowedSpecial, (piece, id) => {
        if (id !== undefined) out.push(id);
        else this.encodeOrdinary(piece, out);
      });
    } else {
      this.encodeOrdinary(text, out);
    }
    return out;
  }

  decode(ids: ArrayLike<number>): string {
    let total = 0;
    const parts: Uint8Array[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.idToBytes[ids[i]];
      if (bytes === undefined) {
        throw new Error(`${this.name}: cannot decode token id ${ids[i]} at position ${i}: not in the vocabulary (size ${this.vocabSize})`);
      }
      parts[i] = bytes;
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      all.set(p, o);
      o += p.length;
    }
    return utf8Decode(all);
  }

  /** The bytes a token stands for (undefined for unused ids). */
  tokenBytes(id: number): Uint8Array | undefined {
    return this.idToBytes[id];
  }

  /** A Hugging Face tokenizer.json object (JSON.stringify it to save). */
  toJSON(): object {
    if (!this.jsonFn) throw new Error(`${this.name}: no tokenizer.json form available`);
    return this.jsonFn();
  }

  private encodeOrdinary(text: string, out: number[]): void {
    if (this.normalize) text = this.normalize(text);
    if (this.addPrefixSpace && text.length > 0 && text[0] !== ' ') text = ' ' + text;
    forEachPretoken(text, this.re, (s, e) => {
      const word = text.slice(s, e);
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.encodeWord(word);
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    });
  }

  /** BPE of one pre-token. */
  encodeWord(word: string): number[] {
    if (this.buf.length < word.length * 3) this.buf = new Uint8Array(word.length * 3 + 64);
    const n = utf8EncodeInto(word, 0, word.length, this.buf);
    if (this.wholeWordVocab) {
      const id = this.wholeWordVocab.get(bytesToTokenString(this.buf.subarray(0, n)));
      if (id !== undefined) return [id];
    }
    const syms: number[] = new Array(n);
    for (let i = 0; i < n; i++) syms[i] = this.byteIds[this.buf[i]];
    return n < SHORT_WORD ? this.mergeShort(syms) : this.mergeLong(syms);
  }

  private mergeShort(syms: number[]): number[] {
    const V = this.V;
    const rank = this.rank;
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = rank.get(syms[i] * V + syms[i + 1]);
        if (r !== undefined && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) return syms;
      syms[at] = this.mergedId[best];
      syms.splice(at + 1, 1);
    }
  }

  /** Same result as mergeShort in O(n log n): a doubly linked list of symbols and a heap of (rank, position). */
  private mergeLong(init: number[]): number[] {
    const n = init.length;
    const V = this.V;
    const rank = this.rank;
    const id = Int32Array.from(init);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const alive = new Uint8Array(n).fill(1);
    // Heap entries pack (rank, left position) into one double: rank * 2^26 + pos; min-heap.
    const P = 67108864;
    if (n >= P) throw new Error(`${this.name}: pre-token of ${n} bytes is too long to encode`);
    const heap: number[] = [];
    const push = (v: number) => {
      let i = heap.push(v) - 1;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= v) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = v;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length > 0) {
        let i = 0;
        const len = heap.length;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= len) break;
          const r = l + 1;
          const c = r < len && heap[r] < heap[l] ? r : l;
          if (heap[c] >= last) break;
          heap[i] = heap[c];
          i = c;
        }
        heap[i] = last;
      }
      return top;
    };
    const pushPair = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const r = rank.get(id[i] * V + id[j]);
      if (r !== undefined) push(r * P + i);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);
    while (heap.length > 0) {
      const v = pop();
      const i = v % P;
      const r = (v - i) / P;
      const j = next[i];
      if (!alive[i] || j < 0 || rank.get(id[i] * V + id[j]) !== r) continue; // stale entry
      id[i] = this.mergedId[r];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) pushPair(prev[i]);
      pushPair(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(id[i]);
    return out;
  }
}

/** Splits text at occurrences of the allowed special tokens; fn(piece, id) gets id for a special token and
 *  undefined for the ordinary text between them (longest special wins at a position). */
export function splitOnSpecials(
  text: string,
  specials: ReadonlyMap<string, number>,
  allowed: 'all' | Iterable<string>,
  fn: (piece: string, id: number | undefined) => void,
): void {
  const names = allowed === 'all' ? [...specials.keys()] : [...allowed];
  for (const s of names) if (!specials.has(s)) throw new Error(`allowedSpecial: "${s}" is not a special token of this tokenizer`);
  if (names.length === 0) {
    fn(text, undefined);
    return;
  }
  names.sort((a, b) => b.length - a.length);
  const re = new RegExp(names.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) fn(text.slice(last, m.index), undefined);
    fn(m[0], specials.get(m[0])!);
    last = m.index! + m[0].length;
  }
  if (last < text.length) fn(text.slice(last), undefined);
}
