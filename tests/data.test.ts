import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DataLoader,
  Rng,
  SHARD_HEADER_BYTES,
  decodeShard,
  deriveSeed,
  encodeShard,
  mulberry32,
  parseMcqJsonl,
} from '../src/train/data/index';
import { readMcqFile } from '../src/train/data/mcq.node';
import { listShards, prepareData, readShard, writeShard } from '../src/train/data/shards.node';
import { gpt2Tokenizer } from '../src/train/tokenizer/index';

const DATA = path.resolve(__dirname, '../../shared/data');
const MCQ = path.join(DATA, 'openstax-ap-review.jsonl');
const haveMcq = existsSync(MCQ);
if (!haveMcq) console.warn(`[data.test] ${MCQ} not found: the shared MCQ test is skipped`);

const tmp = mkdtempSync(path.join(tmpdir(), 'mqg-data-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
const firstTokens = (dl: DataLoader, n: number) => range(0, n).map(() => dl.nextBatch().inputs[0]);

describe('Rng (mulberry32)', () => {
  it('produces the reference mulberry32 stream', () => {
    const r = new Rng(1);
    expect([r.nextU32(), r.nextU32(), r.nextU32()]).toEqual([2693262067, 11749833, 2265367787]);
    expect(mulberry32(1)()).toBeCloseTo(0.6270739405881613, 15);
    expect(Array.from(new Rng(42).permutation(10))).toEqual([0, 7, 3, 5, 2, 1, 8, 9, 4, 6]);
  });

  it('resumes from getState()', () => {
    const a = new Rng(99);
    a.nextU32();
    const b = new Rng(0).setState(a.getState());
    expect(range(0, 5).map(() => b.nextU32())).toEqual(range(0, 5).map(() => a.nextU32()));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(1, 2)).toBe(deriveSeed(1, 2));
  });
});

describe('shards', () => {
  it('round-trips with the llm.c header', () => {
    const toks = [0, 1, 50256, 65534, 7];
    const bytes = encodeShard(toks, 65535);
    expect(bytes.length).toBe(1024 + 10);
    const dv = new DataView(bytes.buffer);
    expect([dv.getInt32(0, true), dv.getInt32(4, true), dv.getInt32(8, true), dv.getInt32(12, true)]).toEqual([20240520, 1, 5, 0]);
    expect(dv.getUint16(SHARD_HEADER_BYTES + 4, true)).toBe(50256);
    expect(Array.from(decodeShard(bytes, 'x.bin'))).toEqual(toks);
    // odd byte offset (as in a pooled Node Buffer) still decodes
    const odd = new Uint8Array(bytes.length + 1);
    odd.set(bytes, 1);
    expect(Array.from(decodeShard(odd.subarray(1), 'odd.bin'))).toEqual(toks);
  });

  it('rejects bad shards, naming the file', () => {
    const good = encodeShard([1, 2, 3], 10);
    const badMagic = good.slice();
    new DataView(badMagic.buffer).setInt32(0, 12345, true);
    expect(() => decodeShard(badMagic, 'a.bin')).toThrow('a.bin: not an llm.c shard: bad magic 12345 (0x3039), expected 20240520');
    const badVersion = good.slice();
    new DataView(badVersion.buffer).setInt32(4, 2, true);
    expect(() => decodeShard(badVersion, 'v.bin')).toThrow('v.bin: unsupported shard version 2');
    expect(() => decodeShard(good.subarray(0, good.length - 1), 't.bin')).toThrow(
      't.bin: truncated shard: header says 3 tokens (1030 bytes) but the file has 1029 bytes (2 tokens)',
    );
    expect(() => decodeShard(good.subarray(0, 100), 'h.bin')).toThrow('h.bin: not an llm.c shard: 100 bytes is smaller than the 1024-byte header');
    const extra = new Uint8Array(good.length + 2);
    extra.set(good);
    expect(() => decodeShard(extra, 'e.bin')).toThrow('e.bin: shard size mismatch: header says 3 tokens (1030 bytes) but the file has 1032 bytes');
  });

  it('rejects tokens >= vocab and vocabularies over 65535', () => {
    expect(() => encodeShard([1, 2, 10, 3], 10)).toThrow('encodeShard: token id 10 at index 2 is out of range for vocab size 10');
    expect(() => encodeShard([1, -1], 10)).toThrow('token id -1 at index 1');
    expect(() => encodeShard([1], 65536)).toThrow('encodeShard: vocab size 65536 does not fit the uint16 shard format (max 65535)');
  });

  it('writes atomically, reads back, and lists shard directories', () => {
    const dir = path.join(tmp, 'shards');
    writeShard(path.join(dir, 'x_train_000000.bin'), [5, 6, 7], 100);
    writeShard(path.join(dir, 'x_train_000001.bin'), [8, 9], 100);
    writeShard(path.join(dir, 'x_val_000000.bin'), [1], 100);
    expect(Array.from(readShard(path.join(dir, 'x_train_000000.bin')))).toEqual([5, 6, 7]);
    const l = listShards(dir);
    expect(l.train.map((f) => path.basename(f))).toEqual(['x_train_000000.bin', 'x_train_000001.bin']);
    expect(l.val.map((f) => path.basename(f))).toEqual(['x_val_000000.bin']);
    expect(listShards(path.join(dir, 'x_val_000000.bin'))).toEqual({ train: [path.join(dir, 'x_val_000000.bin')], val: [] });
    // the split is the name's last train/val word: a text file named corpus-train.txt gives a val shard
    // corpus-train_val_000000.bin, and a word that merely contains one (interval, constraint) is no split
    const named = path.join(tmp, 'named');
    for (const f of ['corpus-train_train_000000.bin', 'corpus-train_val_000000.bin', 'interval_train_000000.bin', 'constraint.val.bin', 'x_validation.bin']) writeShard(path.join(named, f), [1], 100);
    const n = listShards(named);
    expect(n.train.map((f) => path.basename(f))).toEqual(['corpus-train_train_000000.bin', 'interval_train_000000.bin']);
    expect(n.val.map((f) => path.basename(f))).toEqual(['constraint.val.bin', 'corpus-train_val_000000.bin', 'x_validation.bin']);
    const missing = path.join(tmp, 'nothing-here');
    expect(() => listShards(missing)).toThrow(`no such shard file or directory: ${missing}`);
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    expect(() => listShards(empty)).toThrow(`no .bin shards in directory ${empty}`);
    expect(() => readShard(path.join(dir, 'nope.bin'))).toThrow(`shard not found: ${path.join(dir, 'nope.bin')}`);
    const bad = path.join(dir, 'bad.bin');
    writeFileSync(bad, new Uint8Array(1024));
    expect(() => readShard(bad)).toThrow(`${bad}: not an llm.c shard: bad magic 0`);
  });

  it('prepareData writes eot-separated train/val shards and meta.json', () => {
    const a = path.join(tmp, 'a.txt');
    const b = path.join(tmp, 'b.txt');
    writeFileSync(a, 'Hello world');
    writeFileSync(b, 'Hello world Hello world Hello world Hello world');
    const out = path.join(tmp, 'prep');
    const tok = gpt2Tokenizer();
    const r = prepareData({ textFiles: [a, b], tokenizer: tok, outDir: out, valFraction: 0.25 });
    // stream: eot Hello world eot Hello world Hello world Hello world Hello world = 12 tokens; val = last 3
    expect(r).toMatchObject({ trainTokens: 9, valTokens: 3, documents: 2 });
    expect(path.basename(r.trainPath)).toBe('a_train_000000.bin');
    expect(Array.from(readShard(r.trainPath))).toEqual([50256, 15496, 995, 50256, 15496, 995, 18435, 995, 18435]);
    expect(Array.from(readShard(r.valPath))).toEqual([995, 18435, 995]);
    const meta = JSON.parse(readFileSync(r.metaPath, 'utf8'));
    expect(meta).toMatchObject({ tokenizer: 'gpt2', vocabSize: 50257, eotToken: 50256, trainTokens: 9, valTokens: 3, valSplit: 'last' });
    const p = prepareData({ textFiles: [a], tokenizer: tok, outDir: path.join(tmp, 'prep2'), name: 'para', documents: 'paragraph', valFraction: 0 });
    expect(p.trainTokens).toBe(3);
    expect(listShards(path.join(tmp, 'prep2')).train.map((f) => path.basename(f))).toEqual(['para_train_000000.bin']);
  });
});

describe('DataLoader', () => {
  // shard A: tokens 0..19 (floor(19/8) = 2 batches); shard B: 100..117 (floor(17/8) = 2 batches)
  const A = new Uint16Array(range(0, 20));
  const B = new Uint16Array(range(100, 118));

  it('lays out batches like llm.c (B=2, T=4) and wraps to a new epoch', () => {
    const dl = new DataLoader(A, { B: 2, T: 4, shuffle: false });
    expect(dl.batchesPerEpoch).toBe(2);
    const b0 = dl.nextBatch();
    expect(Array.from(b0.inputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(b0.targets)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const b1 = dl.nextBatch();
    expect(Array.from(b1.inputs)).toEqual([8, 9, 10, 11, 12, 13, 14, 15]);
    expect(Array.from(b1.targets)).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    expect(dl.epoch).toBe(0);
    const b2 = dl.nextBatch(); // 16..24 does not fit in 20 tokens: wrap
    expect(Array.from(b2.inputs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(dl.epoch).toBe(1);
  });

  it('moves across shards in order without shuffling', () => {
    const dl = new DataLoader([A, B], { B: 2, T: 4, shuffle: false });
    expect(firstTokens(dl, 6)).toEqual([0, 8, 100, 108, 0, 8]);
    expect(dl.epoch).toBe(1);
    const dl2 = new DataLoader([A, B], { B: 2, T: 4, shuffle: false });
    dl2.nextBatch();
    dl2.nextBatch();
    const b = dl2.nextBatch();
    expect(Array.from(b.inputs)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(Array.from(b.targets)).toEqual([101, 102, 103, 104, 105, 106, 107, 108]);
  });

  it('shuffles deterministically, covering every batch once per epoch', () => {
    const toks = new Uint16Array(range(0, 41)); // 5 batches of 8 (+1)
    const dl = new DataLoader(toks, { B: 2, T: 4, seed: 7 });
    const seq = firstTokens(dl, 15);
    expect(seq).toEqual([24, 8, 16, 32, 0, 32, 0, 24, 8, 16, 8, 24, 0, 32, 16]);
    for (let e = 0; e < 3; e++) expect([...seq.slice(5 * e, 5 * e + 5)].sort((x, y) => x - y)).toEqual([0, 8, 16, 24, 32]);
    expect(dl.epoch).toBe(2);
    expect(firstTokens(new DataLoader(toks, { B: 2, T: 4, seed: 7 }), 15)).toEqual(seq);
    expect(firstTokens(new DataLoader(toks, { B: 2, T: 4, seed: 8 }), 15)).not.toEqual(seq);
    const d2 = new DataLoader(toks, { B: 2, T: 4, seed: 7 });
    const b = d2.nextBatch();
    expect(Array.from(b.inputs)).toEqual(range(24, 32));
    expect(Array.from(b.targets)).toEqual(range(25, 33));
    d2.nextBatch();
    d2.reset();
    expect(firstTokens(d2, 5)).toEqual(seq.slice(0, 5));
  });

  it('state()/restore() resumes the identical sequence (mid-shard, across shards and epochs)', () => {
    const C = new Uint16Array(range(200, 233)); // 4 batches
    for (const cut of [0, 3, 6, 9]) {
      const dl = new DataLoader([A, B, C], { B: 2, T: 4, seed: 123 });
      firstTokens(dl, cut);
      const saved = JSON.parse(JSON.stringify(dl.state()));
      const rest = range(0, 20).map(() => Array.from(dl.nextBatch().inputs));
      const fresh = new DataLoader([A, B, C], { B: 2, T: 4, seed: 123 });
      fresh.restore(saved);
      expect(range(0, 20).map(() => Array.from(fresh.nextBatch().inputs))).toEqual(rest);
      expect(fresh.epoch).toBe(dl.epoch);
    }
    const dl = new DataLoader([A, B, C], { B: 2, T: 4, seed: 123 });
    firstTokens(dl, 10);
    expect(dl.state()).toMatchObject({ version: 1, B: 2, T: 4, epoch: 1, numShards: 3 });
    expect(() => new DataLoader([A, B], { B: 2, T: 4 }).restore(dl.state())).toThrow('state is for 3 shards but this loader has 2');
    expect(() => new DataLoader([A, B, C], { B: 1, T: 4 }).restore(dl.state())).toThrow('state is for B=2, T=4 but this loader has B=1, T=4');
  });

  it('rejects short shards and out-of-vocab tokens', () => {
    expect(() => new DataLoader(new Uint16Array(8), { B: 2, T: 4 })).toThrow(
      'DataLoader: shard 0 has 8 tokens, but B*T+1 = 9 are needed for one batch (B=2, T=4)',
    );
    expect(() => new DataLoader([A, new Uint16Array(5)], { B: 2, T: 4, names: ['a.bin', 'b.bin'] })).toThrow('b.bin has 5 tokens, but B*T+1 = 9');
    const bad = new Uint16Array(range(0, 20));
    bad[13] = 70;
    expect(() => new DataLoader(bad, { B: 2, T: 4, vocabSize: 64 })).toThrow(
      'DataLoader: token id 70 at position 13 of shard 0 is out of range for vocab size 64',
    );
    expect(new DataLoader(bad, { B: 2, T: 4, vocabSize: 71 }).batchesPerEpoch).toBe(2);
  });
});

describe('MCQ JSONL', () => {
  it.skipIf(!haveMcq)('parses openstax-ap-review.jsonl (714 records)', () => {
    const recs = readMcqFile(MCQ);
    expect(recs.length).toBe(714);
    expect(recs[0]).toEqual({
      id: 'ap2e-ch01-m45983-q01',
      question: 'Which of the following specialties might focus on studying all of the structures of the ankle and foot?',
      options: ['microscopic anatomy', 'muscle anatomy', 'regional anatomy', 'systemic anatomy'],
      answer: [2],
      source: 'openstax-ap2e',
      chapter: 'Chapter 1: An Introduction to the Human Body',
    });
    const byCount = new Map<number, number>();
    for (const r of recs) byCount.set(r.options.length, (byCount.get(r.options.length) ?? 0) + 1);
    expect(Object.fromEntries(byCount)).toEqual({ 4: 706, 2: 6, 3: 1, 5: 1 });
    expect(recs.every((r) => r.answer.length === 1)).toBe(true);
    expect(recs.reduce((s, r) => s + r.answer[0], 0)).toBe(1052);
  });

  it('reports line-numbered errors', () => {
    const ok = '{"id":"q1","question":"Q?","options":["a","b"],"answer":[1],"source":"s","chapter":"c"}';
    expect(parseMcqJsonl(`${ok}\n\n${ok}\n`, 'f.jsonl').map((r) => r.answer)).toEqual([[1], [1]]);
    expect(() => parseMcqJsonl(`${ok}\n{"id": oops}`, 'f.jsonl')).toThrow(/^f\.jsonl:2: bad JSON/);
    expect(() => parseMcqJsonl(ok.replace('"source":"s",', ''), 'f.jsonl')).toThrow('f.jsonl:1: missing key "source"');
    expect(() => parseMcqJsonl(`${ok}\n${ok}\n${ok.replace('[1]', '[0, 2]')}`, 'f.jsonl')).toThrow(
      'f.jsonl:3: answer index 2 is out of range for 2 options',
    );
    expect(() => parseMcqJsonl(ok.replace('[1]', '[]'), 'f.jsonl')).toThrow('f.jsonl:1: "answer" must be a non-empty array');
  });
});
