import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import r50kRanks from 'gpt-tokenizer/bpeRanks/r50k_base';
import {
  BYTE_TO_CHAR,
  BpeTokenizer,
  GPT2_SPLIT_PATTERN,
  gpt2Tokenizer,
  hfTokenizerFromJSON,
  pretokenize,
  trainBpe,
  type HfTokenizerJson,
  type Tokenizer,
} from '../src/train/tokenizer/index';
import { loadTokenizer, saveTokenizer } from '../src/train/tokenizer/load.node';

const DATA = path.resolve(__dirname, '../../shared/data');
const BOOK = path.join(DATA, 'openstax-anatomy-physiology-2e.txt');
const haveBook = existsSync(BOOK);
if (!haveBook) console.warn(`[tokenizer.test] ${BOOK} not found: tests on the shared corpus are skipped`);

const TRICKY = [
  'Hello world',
  'Quelle est la posologie ? Posologie recommandée : 500 mg, à prendre après le repas. Ça dépend… « élevée »',
  'emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷 and more 🧬🩺',
  '中文测试：心脏、肝脏和肾脏。日本語のテキスト。한국어 문장.',
  'control\u0000chars\u0001\u0007\u001b[0m\ttab\r\nCRLF\u007f',
  '   leading spaces\n\n\n\n   runs   of    spaces\t\t\n  \n',
  'x' + ' '.repeat(37) + 'y' + '\n'.repeat(9),
  "it's they're we've I'm you'll he'd 'quoted' ''",
  'numbers 3.14159 1,000,000 42nd 0x7fff 1e-9',
  '<|endoftext|> inside text is just text',
  '\uFEFFBOM at the start',
  'Ωμέγα Ελληνικά, кириллица, עברית, العربية, हिन्दी',
  'a',
  '',
];

const corpus = (() => {
  const base = [
    'The heart pumps blood through the arteries and veins of the body.',
    'La posologie dépend du poids du patient et de la fonction rénale.',
    'Cells form tissues; tissues form organs; organs form organ systems.',
    'The nephron filters blood plasma, and the kidney regulates water balance.',
    'Neurons transmit signals across synapses using neurotransmitters.',
  ];
  const out: string[] = [];
  for (let i = 0; i < 40; i++) out.push(base.map((s, j) => (i + j) % 3 === 0 ? s.toUpperCase() : s).join(' '));
  return out.join('\n\n');
})();

function roundTrips(tok: Tokenizer) {
  for (const s of TRICKY) {
    const ids = tok.encode(s);
    expect(tok.decode(ids), JSON.stringify(s)).toBe(s);
    for (const id of ids) expect(id).toBeLessThan(tok.vocabSize);
  }
}

/** Naive trainer: recount every pair each merge; same tie-break (count desc, then left*V+right asc). */
function naiveTrain(text: string, vocabSize: number): [number, number][] {
  const counts = new Map<string, number>();
  for (const w of pretokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, f]) => ({ s: [...new TextEncoder().encode(w)], f }));
  const strs = BYTE_TO_CHAR.slice();
  const merges: [number, number][] = [];
  while (strs.length < vocabSize - 1) {
    const pc = new Map<number, number>();
    for (const { s, f } of words) for (let i = 0; i + 1 < s.length; i++) pc.set(s[i] * vocabSize + s[i + 1], (pc.get(s[i] * vocabSize + s[i + 1]) ?? 0) + f);
    let best = -1;
    let bc = 0;
    for (const [k, c] of pc) if (c > bc || (c === bc && k < best)) [best, bc] = [k, c];
    if (bc < 2) break;
    const a = Math.floor(best / vocabSize);
    const b = best % vocabSize;
    let m = strs.indexOf(strs[a] + strs[b]);
    if (m < 0) m = strs.push(strs[a] + strs[b]) - 1;
    merges.push([a, b]);
    for (const w of words) {
      const o: number[] = [];
      for (let i = 0; i < w.s.length; i++) {
        if (i + 1 < w.s.length && w.s[i] === a && w.s[i + 1] === b) {
          o.push(m);
          i++;
        } else o.push(w.s[i]);
      }
      w.s = o;
    }
  }
  return merges;
}

/** GPT-2's tokenizer.json rebuilt from gpt-tokenizer's rank table: the merge that made token t is the split
 *  left when BPE runs on t's bytes with only ranks < t. */
function gpt2TokenizerJson(): HfTokenizerJson {
  const ranks = r50kRanks as (string | number[])[];
  const enc = new TextEncoder();
  const bytesOf = ranks.map((r) => (typeof r === 'string' ? enc.encode(r) : Uint8Array.from(r)));
  const latin1 = (b: Uint8Array) => String.fromCharCode(...b);
  const rankOf = new Map(bytesOf.map((b, i) => [latin1(b), i]));
  const toStr = (s: string) => [...s].map((c) => BYTE_TO_CHAR[c.charCodeAt(0)]).join('');
  const vocab: Record<string, number> = {};
  bytesOf.forEach((b, i) => (vocab[toStr(latin1(b))] = i));
  vocab['<|endoftext|>'] = 50256;
  const merges: string[] = [];
  for (let t = 256; t < bytesOf.length; t++) {
    let parts = [...latin1(bytesOf[t])];
    for (;;) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rankOf.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < t && r < best) [best, at] = [r, i];
      }
      if (at < 0) break;
      parts = [...parts.slice(0, at), parts[at] + parts[at + 1], ...parts.slice(at + 2)];
    }
    if (parts.length !== 2) throw new Error(`token ${t} does not split into a merge`);
    merges.push(`${toStr(parts[0])} ${toStr(parts[1])}`);
  }
  return {
    added_tokens: [{ id: 50256, content: '<|endoftext|>', special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, vocab, merges },
  };
}

describe('pre-tokenization', () => {
  it('splits like GPT-2', () => {
    expect(pretokenize("Hello world's  test\n\n")).toEqual(['Hello', ' world', "'s", ' ', ' test', '\n\n']);
    expect(pretokenize('mg/kg 1,000 ?!')).toEqual(['mg', '/', 'kg', ' 1', ',', '000', ' ?!']);
    expect(GPT2_SPLIT_PATTERN.startsWith("'s|'t|'re|'ve|'m|'ll|'d")).toBe(true);
  });
});

describe('gpt2Tokenizer', () => {
  const tok = gpt2Tokenizer();

  it('has GPT-2 sizes and known encodings', () => {
    expect(tok.vocabSize).toBe(50257);
    expect(tok.eotToken).toBe(50256);
    expect(tok.encode('Hello world')).toEqual([15496, 995]);
    expect(tok.encode(' Hello')).toEqual([18435]);
    expect(tok.encode('\n\n')).toEqual([628]);
    expect(tok.decode([50256])).toBe('<|endoftext|>');
  });

  it('encodes special-token text as plain text unless allowed', () => {
    expect(tok.encode('<|endoftext|>')).toEqual([27, 91, 437, 1659, 5239, 91, 29]);
    expect(tok.encode('a<|endoftext|>b', { allowedSpecial: 'all' })).toEqual([64, 50256, 65]);
  });

  it('round-trips tricky UTF-8', () => roundTrips(tok));

  it('decodes multi-byte characters split across tokens only as a whole sequence', () => {
    const ids = tok.encode('😀');
    expect(ids).toEqual([47249, 222]);
    expect(tok.decode([ids[0]])).toBe('\uFFFD');
    expect(tok.decode(ids)).toBe('😀');
    expect(() => tok.decode([50257])).toThrow(/token id 50257 at position 0/);
  });
});

describe('hfTokenizerFromJSON', () => {
  it('reads GPT-2 tokenizer.json and matches gpt2Tokenizer', () => {
    const json = gpt2TokenizerJson();
    expect(json.model.merges.length).toBe(50000);
    expect(json.model.merges[0]).toBe('Ġ t');
    const hf = hfTokenizerFromJSON(JSON.stringify(json), { name: 'gpt2-json' });
    const g = gpt2Tokenizer();
    expect(hf.vocabSize).toBe(50257);
    expect(hf.eotToken).toBe(50256);
    expect(hf.numMerges).toBe(50000);
    // (U+FEFF is whitespace to gpt-tokenizer's JS \s but not to GPT-2's regex, so skip that string.)
    for (const s of TRICKY.filter((s) => !s.includes('\uFEFF'))) expect(hf.encode(s), s).toEqual(g.encode(s));
    const long = 'pneumonoultramicroscopicsilicovolcanoconiosis'.repeat(3) + 'x'.repeat(100);
    expect(hf.encode(long)).toEqual(g.encode(long));
    if (haveBook) {
      const text = readFileSync(BOOK, 'utf8').slice(0, 200_000);
      const ids = hf.encode(text);
      expect(ids).toEqual(g.encode(text));
      expect(hf.decode(ids)).toBe(text);
    }
    // merges as [a, b] pairs read the same
    const pairs = { ...json, model: { ...json.model, merges: (json.model.merges as string[]).map((m) => m.split(' ') as [string, string]) } };
    expect(hfTokenizerFromJSON(pairs).encode('Hello world')).toEqual([15496, 995]);
  });

  it('accepts ByteLevel inside a Sequence', () => {
    const json = trainBpe([corpus], 300).toJSON() as HfTokenizerJson;
    const seq = { ...json, pre_tokenizer: { type: 'Sequence', pretokenizers: [json.pre_tokenizer] } };
    const a = hfTokenizerFromJSON(json);
    const b = hfTokenizerFromJSON(seq);
    expect(b.encode(corpus)).toEqual(a.encode(corpus));
  });

  it('gives clear errors', () => {
    const good = trainBpe([corpus], 300).toJSON() as HfTokenizerJson;
    expect(() => hfTokenizerFromJSON('{"model": ')).toThrow(/malformed JSON/);
    expect(() => hfTokenizerFromJSON({ ...good, model: { ...good.model, type: 'WordPiece' } })).toThrow(/unsupported model type "WordPiece"/);
    expect(() => hfTokenizerFromJSON({ ...good, model: { ...good.model, type: 'Unigram' } })).toThrow(/only byte-level "BPE"/);
    expect(() => hfTokenizerFromJSON({ ...good, model: { ...good.model, merges: ['Ġ'] } })).toThrow(/merges\[0\] = "Ġ" is not of the form/);
    expect(() => hfTokenizerFromJSON({ ...good, model: { ...good.model, merges: ['zz Ġ'] } })).toThrow(/"zz" is not in model.vocab/);
    const vocab = { ...good.model.vocab };
    delete vocab['Ġ'];
    expect(() => hfTokenizerFromJSON({ ...good, model: { ...good.model, vocab } })).toThrow(/no token for byte 0x20/);
    expect(() => hfTokenizerFromJSON({ ...good, pre_tokenizer: { type: 'Metaspace' } })).toThrow(/unsupported pre_tokenizer "Metaspace"/);
    expect(() => hfTokenizerFromJSON({ ...good, decoder: { type: 'WordPiece' } })).toThrow(/unsupported decoder type "WordPiece"/);
    expect(() => hfTokenizerFromJSON({ ...good, added_tokens: [] }, { eotToken: '</s>' })).toThrow(/"<\/s>" is neither/);
  });
});

describe('trainBpe', () => {
  it('learns exactly the merges of a naive recount-everything trainer', () => {
    const text = corpus.slice(0, 4000);
    const tok = trainBpe([text], 400);
    const json = tok.toJSON() as HfTokenizerJson;
    const ref = naiveTrain(text, 400);
    expect(ref.length).toBe(143);
    expect(json.model.merges.length).toBe(ref.length);
    expect(json.model.merges).toEqual(ref.map(([a, b]) => {
      const s = (id: number) => Object.keys(json.model.vocab).find((k) => json.model.vocab[k] === id)!;
      return `${s(a)} ${s(b)}`;
    }));
  });

  it('builds 256 bytes + merges + <|endoftext|> last and round-trips text', () => {
    const tok = trainBpe([corpus], 512);
    const json = tok.toJSON() as HfTokenizerJson;
    expect(tok.vocabSize).toBe(json.model.merges.length + 257);
    expect(tok.eotToken).toBe(tok.vocabSize - 1);
    expect(json.added_tokens).toEqual([expect.objectContaining({ id: tok.eotToken, content: '<|endoftext|>', special: true })]);
    expect(json.model.vocab['Ġ']).toBe(32);
    expect(json.model.vocab['a']).toBe(97);
    expect(tok.decode([tok.eotToken])).toBe('<|endoftext|>');
    const ids = tok.encode(corpus);
    expect(ids.length).toBeLessThan(new TextEncoder().encode(corpus).length / 3);
    expect(tok.decode(ids)).toBe(corpus);
    roundTrips(tok);
  });

  it('stops early (smaller vocab) when pairs become rare', () => {
    const tok = trainBpe(['abab abab'], 1000);
    // pairs: (a,b) x4 -> ab; (ab,ab) x2 -> abab; then (Ġ,abab) occurs once < minFrequency 2
    expect(tok.vocabSize).toBe(256 + 2 + 1);
    expect(tok.encode('abab abab')).toEqual([257, 32, 257]);
  });

  it('survives a JSON round trip with identical ids', () => {
    const tok = trainBpe([corpus], 512);
    const again = hfTokenizerFromJSON(JSON.stringify(tok.toJSON()));
    expect(again.vocabSize).toBe(tok.vocabSize);
    expect(again.eotToken).toBe(tok.eotToken);
    for (const s of [corpus, ...TRICKY]) expect(again.encode(s)).toEqual(tok.encode(s));
  });

  it('encodes long pre-tokens (heap path) like the short path', () => {
    const tok = trainBpe([corpus], 512);
    const word = 'thenephronfiltersbloodplasmaandthekidneyregulateswaterbalance'.repeat(4);
    const long = tok.encodeWord(word); // >= 48 bytes: heap merge
    expect(new TextEncoder().encode(word).length).toBe(244);
    expect(long).toEqual(referenceBpe(tok, word));
    expect(tok.decode(long)).toBe(word);
    expect(tok.encodeWord(' ' + 'a'.repeat(301))).toEqual(referenceBpe(tok, ' ' + 'a'.repeat(301)));
  });

  it.skipIf(!haveBook)('trains on a slice of the OpenStax book (shared/data)', () => {
    const text = readFileSync(BOOK, 'utf8').slice(0, 500_000);
    const tok = trainBpe([text], 1024);
    expect(tok.vocabSize).toBe(1024);
    expect(tok.eotToken).toBe(1023);
    const ids = tok.encode(text);
    expect(tok.decode(ids)).toBe(text);
    expect(ids.length / new TextEncoder().encode(text).length).toBeLessThan(0.35);
  });
});

/** Rank-ordered BPE by repeated full scans (the definition), using only the tokenizer's JSON. */
function referenceBpe(tok: BpeTokenizer, word: string): number[] {
  const json = tok.toJSON() as HfTokenizerJson;
  const rank = new Map((json.model.merges as string[]).map((m, r) => [m, r]));
  let parts = [...new TextEncoder().encode(word)].map((b) => BYTE_TO_CHAR[b]);
  for (;;) {
    let best = Infinity;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rank.get(`${parts[i]} ${parts[i + 1]}`);
      if (r !== undefined && r < best) [best, at] = [r, i];
    }
    if (at < 0) return parts.map((p) => json.model.vocab[p]);
    parts = [...parts.slice(0, at), parts[at] + parts[at + 1], ...parts.slice(at + 2)];
  }
}

describe('loadTokenizer', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'mqg-tok-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads "gpt2", a tokenizer.json file and a directory holding one', () => {
    expect(loadTokenizer('gpt2').encode('Hello world')).toEqual([15496, 995]);
    const tok = trainBpe([corpus], 300);
    const file = path.join(dir, 'tokenizer.json');
    saveTokenizer(file, tok);
    const fromFile = loadTokenizer(file);
    expect(fromFile.name).toBe(file);
    expect(fromFile.encode(corpus)).toEqual(tok.encode(corpus));
    expect(loadTokenizer(dir).encode('heart')).toEqual(tok.encode('heart'));
  });

  it('names the missing path and the broken file', () => {
    const missing = path.join(dir, 'nope', 'tokenizer.json');
    expect(() => loadTokenizer(missing)).toThrow(`tokenizer not found: ${missing}`);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{"model": {"type": "WordPiece"}}');
    expect(() => loadTokenizer(bad)).toThrow(new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: tokenizer.json: unsupported model type "WordPiece"`));
  });
});
