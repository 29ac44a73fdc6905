// Loads a Hugging Face tokenizer.json of the byte-level BPE kind (GPT-2, BioMedLM, and BPEs trained here).
//
// Supported: model.type "BPE" with a `vocab` map and `merges` as "a b" strings or [a, b] pairs;
// pre_tokenizer ByteLevel (alone or in a Sequence, optionally after a Split with a regex pattern);
// normalizer null / NFC / NFD / NFKC / NFKD / Lowercase / Sequence of those; decoder ByteLevel (or null);
// added_tokens. The post_processor is ignored: encode() never adds BOS/EOS tokens.
// Special-token text in the input is ordinary text unless encode(text, { allowedSpecial }) says otherwise.

import { BYTE_TO_CHAR, tokenStringToBytes, utf8Encode } from './bytes';
import { BpeTokenizer } from './bpe';
import { GPT2_SPLIT_PATTERN } from './pretokenize';

/** The subset of tokenizer.json this module reads and writes. */
export interface HfTokenizerJson {
  version?: string;
  added_tokens?: HfAddedToken[];
  normalizer?: any;
  pre_tokenizer?: any;
  post_processor?: any;
  decoder?: any;
  model: {
    type?: string;
    vocab: Record<string, number>;
    merges: (string | [string, string])[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface HfAddedToken {
  id: number;
  content: string;
  special?: boolean;
  single_word?: boolean;
  lstrip?: boolean;
  rstrip?: boolean;
  normalized?: boolean;
}

/** Options of hfTokenizerFromJSON. */
export interface HfLoadOptions {
  /** Tokenizer.name (default "hf-bpe"). */
  name?: string;
  /** Text of the end-of-text token; default the first of <|endoftext|>, </s>, <|end_of_text|>, <eos> present. */
  eotToken?: string;
}

const EOT_CANDIDATES = ['<|endoftext|>', '</s>', '<|end_of_text|>', '<eos>'];

function fail(msg: string): never {
  throw new Error(`tokenizer.json: ${msg}`);
}

/** A byte-level BPE from a Hugging Face tokenizer.json (its text or parsed object), e.g. GPT-2's or BioMedLM's; anything else is an error naming the field. */
export function hfTokenizerFromJSON(json: string | object, opts: HfLoadOptions = {}): BpeTokenizer {
  let j: any;
  if (typeof json === 'string') {
    try {
      j = JSON.parse(json);
    } catch (e) {
      fail(`malformed JSON (${(e as Error).message})`);
    }
  } else {
    j = json;
  }
  if (j === null || typeof j !== 'object' || Array.isArray(j)) fail('top level must be a JSON object');
  const model = j.model;
  if (model === null || typeof model !== 'object') fail('missing "model" object');
  const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
  if (type !== 'BPE') {
    fail(`unsupported model type ${JSON.stringify(model.type)}: only byte-level "BPE" models are supported`);
  }
  if (model.vocab === null || typeof model.vocab !== 'object' || Array.isArray(model.vocab)) {
    fail('model.vocab must be an object mapping token strings to ids');
  }
  if (!Array.isArray(model.merges)) fail('model.merges must be an array');
  if (model.dropout !== null && model.dropout !== undefined && model.dropout !== 0) {
    fail(`model.dropout=${model.dropout} is not supported (BPE dropout is training-time only)`);
  }
  for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (model[k]) fail(`model.${k}=${JSON.stringify(model[k])} is not supported by byte-level BPE`);
  }
  if (model.byte_fallback) fail('model.byte_fallback=true is not supported (that is a SentencePiece-style BPE)');

  const pre = parsePreTokenizer(j.pre_tokenizer);
  const normalize = parseNormalizer(j.normalizer);
  if (j.decoder !== null && j.decoder !== undefined && j.decoder.type !== 'ByteLevel') {
    fail(`unsupported decoder type ${JSON.stringify(j.decoder.type)}: only "ByteLevel" is supported`);
  }

  // Vocabulary.
  const vocab = model.vocab as Record<string, unknown>;
  const idToBytes: (Uint8Array | undefined)[] = [];
  const strToId = new Map<string, number>();
  for (const [tok, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0) fail(`model.vocab[${JSON.stringify(tok)}] = ${JSON.stringify(id)} is not a non-negative integer id`);
    strToId.set(tok, id as number);
    idToBytes[id as number] = tokenStringToBytes(tok);
  }
  const specials = new Map<string, number>();
  const added = j.added_tokens ?? [];
  if (!Array.isArray(added)) fail('added_tokens must be an array');
  added.forEach((t: any, i: number) => {
    if (t === null || typeof t !== 'object' || typeof t.content !== 'string' || !Number.isInteger(t.id) || t.id < 0) {
      fail(`added_tokens[${i}] must have a string "content" and a non-negative integer "id"`);
    }
    specials.set(t.content, t.id);
    idToBytes[t.id] = utf8Encode(t.content); // added tokens decode to their literal text
  });

  const byteIds = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = strToId.get(BYTE_TO_CHAR[b]);
    if (id === undefined) {
      fail(`model.vocab has no token for byte 0x${b.toString(16).padStart(2, '0')} ("${BYTE_TO_CHAR[b]}"): not a byte-level BPE vocabulary`);
    }
    byteIds[b] = id;
  }

  // Merges.
  const merges: [number, number, number][] = new Array(model.merges.length);
  model.merges.forEach((m: unknown, r: number) => {
    let a: unknown, b: unknown;
    if (typeof m === 'string') {
      const parts = m.split(' ');
      if (parts.length !== 2) fail(`model.merges[${r}] = ${JSON.stringify(m)} is not of the form "left right"`);
      [a, b] = parts;
    } else if (Array.isArray(m) && m.length === 2) {
      [a, b] = m;
    } else {
      fail(`model.merges[${r}] = ${JSON.stringify(m)} is neither "left right" nor [left, right]`);
    }
    if (typeof a !== 'string' || typeof b !== 'string') fail(`model.merges[${r}] parts must be strings`);
    const ia = strToId.get(a);
    const ib = strToId.get(b);
    const im = strToId.get(a + b);
    if (ia === undefined) fail(`model.merges[${r}] (${JSON.stringify(a)} ${JSON.stringify(b)}): ${JSON.stringify(a)} is not in model.vocab`);
    if (ib === undefined) fail(`model.merges[${r}] (${JSON.stringify(a)} ${JSON.stringify(b)}): ${JSON.stringify(b)} is not in model.vocab`);
    if (im === undefined) fail(`model.merges[${r}]: merged token ${JSON.stringify(a + b)} is not in model.vocab`);
    merges[r] = [ia, ib, im];
  });

  // End of text.
  let eot: number | undefined;
  if (opts.eotToken !== undefined) {
    eot = specials.get(opts.eotToken) ?? strToId.get(opts.eotToken);
    if (eot === undefined) fail(`end-of-text token ${JSON.stringify(opts.eotToken)} is neither an added token nor in model.vocab`);
  } else {
    for (const c of EOT_CANDIDATES) {
      eot = specials.get(c) ?? strToId.get(c);
      if (eot !== undefined) break;
    }
    if (eot === undefined) {
      fail(`no end-of-text token found (looked for ${EOT_CANDIDATES.join(', ')}); pass { eotToken } to name one`);
    }
  }

  const src = j;
  return new BpeTokenizer({
    name: opts.name ?? 'hf-bpe',
    idToBytes,
    byteIds,
    merges,
    specials,
    eotToken: eot,
    splitRegex: pre.regex,
    addPrefixSpace: pre.addPrefixSpace,
    normalize,
    wholeWordVocab: model.ignore_merges ? strToId : undefined,
    json: () => src,
  });
}

interface PreTok {
  regex: RegExp;
  addPrefixSpace: boolean;
}

function parsePreTokenizer(p: any): PreTok {
  if (p === null || p === undefined) fail('pre_tokenizer is null: a byte-level BPE needs a ByteLevel pre_tokenizer');
  const steps: any[] = p.type === 'Sequence' ? p.pretokenizers : [p];
  if (!Array.isArray(steps)) fail('pre_tokenizer Sequence has no "pretokenizers" array');
  let byteLevel: any;
  let split: RegExp | undefined;
  for (const s of steps) {
    if (s?.type === 'ByteLevel') {
      if (byteLevel) fail('pre_tokenizer has two ByteLevel steps');
      byteLevel = s;
    } else if (s?.type === 'Split' && !byteLevel && !split) {
      const pat = s.pattern?.Regex ?? escapeRegex(s.pattern?.String);
      if (typeof pat !== 'string') fail('pre_tokenizer Split needs pattern.Regex or pattern.String');
      if (s.behavior !== 'Isolated' || s.invert) {
        fail(`pre_tokenizer Split with behavior ${JSON.stringify(s.behavior)}${s.invert ? ' (inverted)' : ''} is not supported (only "Isolated")`);
      }
      try {
        split = new RegExp(pat, 'gu');
      } catch (e) {
        fail(`pre_tokenizer Split regex ${JSON.stringify(pat)} is not valid JavaScript regex syntax (${(e as Error).message})`);
      }
    } else {
      fail(`unsupported pre_tokenizer ${JSON.stringify(s?.type)}${steps.length > 1 ? ' inside a Sequence' : ''}: only ByteLevel (optionally after a Split) is supported`);
    }
  }
  if (!byteLevel) fail('pre_tokenizer has no ByteLevel step: not a byte-level BPE');
  const useRegex = byteLevel.use_regex ?? true;
  if (split && useRegex) fail('pre_tokenizer has both a Split and ByteLevel with use_regex=true (two splits are not supported)');
  const regex = split ?? (useRegex ? new RegExp(GPT2_SPLIT_PATTERN, 'gu') : /[^]+/gu);
  return { regex, addPrefixSpace: !!byteLevel.add_prefix_space };
}

function escapeRegex(s: unknown): string | undefined {
  return typeof s === 'string' ? s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') : undefined;
}

function parseNormalizer(n: any): ((s: string) => string) | undefined {
  if (n === null || n === undefined) return undefined;
  const one = (x: any): ((s: string) => string) => {
    switch (x?.type) {
      case 'NFC':
      case 'NFD':
      case 'NFKC':
      case 'NFKD':
        return (s) => s.normalize(x.type);
      case 'Lowercase':
        return (s) => s.toLowerCase();
      case 'Sequence': {
        if (!Array.isArray(x.normalizers)) fail('normalizer Sequence has no "normalizers" array');
        const fs = x.normalizers.map(one);
        return (s) => fs.reduce((acc: string, f: (s: string) => string) => f(acc), s);
      }
      default:
        fail(`unsupported normalizer ${JSON.stringify(x?.type)} (supported: NFC, NFD, NFKC, NFKD, Lowercase, Sequence)`);
    }
  };
  return one(n);
}
