// Model, tokenizer and shards must belong together at every command; empty inputs are errors.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkConsistency } from '../../src/train/consistency';
import { ConsistencyError, DataError } from '../../src/util/errors';
import { encodeShard, decodeShardHeader } from '../../src/train/data/shards';
import { prepareData, readTextFile } from '../../src/train/data/shards.node';
import { DataLoader } from '../../src/train/data/loader';
import { checkModelInputs, resolveModelPath } from '../../src/train/inputs.node';
import { loadTokenizerRecorded, recordTokenizer, saveTokenizer } from '../../src/train/tokenizer/load.node';
import { trainBpe } from '../../src/train/tokenizer/train';
import { train, type TrainOptions } from '../../src/train/trainer.node';
import type { GPUContext } from '../../src/gpu/context';
import { getGPU } from '../helpers/gpu';
import { mqg } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'mqg-consistency-'));
const text = 'The heart pumps blood.\n\nThe lungs exchange gases with the blood.\n\nBones support the body.\n'.repeat(30);
const tokA = trainBpe([text], 300, { name: 'a' });
const tokB = trainBpe([text + 'kidney liver spleen '.repeat(20)], 300, { name: 'b' });
const recA = recordTokenizer(tokA).record, recB = recordTokenizer(tokB).record;
const hdrTok = { tokenizer: recA };
const quiet = () => {};
const tiny: Partial<TrainOptions> = { batchSize: 2, seqLen: 16, steps: 2, warmup: 1, evalEvery: 0, saveEvery: 0, mcq: '', sampleTokens: 0, logFormat: 'jsonl', precision: 'f32' };

describe('checkConsistency', () => {
  it('names both sides of each disagreement', () => {
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 256 }, tokenizer: { source: 't.json', record: recA } })).toThrow(
      'the tokenizer t.json has 300 tokens, more than the vocab of the model m (256)',
    );
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 300, tokenizer: recA }, tokenizer: { source: 'b.json', record: recB } })).toThrow(
      new RegExp(`the tokenizer b\\.json \\(sha256 ${recB.hash.slice(0, 12)}, 300 tokens\\) is not the one the model m was trained with \\(sha256 ${recA.hash.slice(0, 12)}`),
    );
    expect(() => checkConsistency({ tokenizer: { source: 'b.json', record: recB }, shards: [{ source: 's.bin', ...hdrTok }] })).toThrow(/the shard s\.bin was made with another tokenizer/);
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 300, tokenizer: recB }, shards: [{ source: 's.bin', ...hdrTok }] })).toThrow(/the shard s\.bin was made with another tokenizer .* than the model m was trained with/);
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 200 }, shards: [{ source: 's.bin', ...hdrTok }] })).toThrow('the shard s.bin holds ids of a 300-token vocabulary, more than the vocab of the model m (200)');
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 300, tokenizer: recA }, tokenizer: { source: 'a.json', record: recA }, shards: [{ source: 's.bin', ...hdrTok }, { source: 'llmc.bin' }] })).not.toThrow();
    expect(() => checkConsistency({ model: { source: 'm', vocabSize: 256 }, tokenizer: { source: 't', record: recA } })).toThrow(ConsistencyError);
  });

  it('shards record their tokenizer in header ints llm.c leaves unused', () => {
    const bytes = encodeShard([1, 2, 3], 300, recA);
    const ints = new Int32Array(bytes.buffer, 0, 256);
    expect([ints[0], ints[1], ints[2], ints[3]]).toEqual([20240520, 1, 3, 0]);
    expect(decodeShardHeader(bytes)).toEqual({ tokens: 3, tokenizer: { hash: recA.hash, vocabSize: 300 } });
    expect(decodeShardHeader(encodeShard([1, 2, 3], 300))).toEqual({ tokens: 3 });
  });
});

describe('at every command', () => {
  let gpu: GPUContext;
  const data = join(dir, 'data'), llmc = join(dir, 'llmc');
  beforeAll(async () => {
    gpu = await getGPU('f32');
    saveTokenizer(join(dir, 'a.json'), tokA);
    saveTokenizer(join(dir, 'b.json'), tokB);
    prepareData({ textFiles: [writeText('corpus.txt', text)], tokenizer: tokA, tokenizerRecord: loadTokenizerRecorded(join(dir, 'a.json')).record, outDir: data, documents: 'paragraph' });
    mkdirSync(llmc);
    writeFileSync(join(llmc, 'x_train.bin'), encodeShard(Array.from({ length: 400 }, (_, i) => (i * 7) % 300), 300));
  });
  const writeText = (name: string, body: string | Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  };

  it('train: --tokenizer gpt2 on shards made with another tokenizer is an error', async () => {
    await expect(train({ ...tiny, out: join(dir, 'r1'), data, tokenizer: 'gpt2' }, quiet, gpu)).rejects.toThrow(/the shard .*train_000000\.bin was made with another tokenizer .* than gpt2/);
    await expect(train({ ...tiny, out: join(dir, 'r1'), data, tokenizer: join(dir, 'b.json') }, quiet, gpu)).rejects.toThrow(ConsistencyError);
  });

  it('train: the bundled corpus with --tokenizer gpt2 is an error, not a 50257-vocab model on BPE ids', async () => {
    await expect(train({ ...tiny, vocabSize: 300, out: join(dir, 'r2'), tokenizer: 'gpt2' }, quiet, gpu)).rejects.toThrow(/was made with another tokenizer \(sha256 [0-9a-f]{12}, 300 tokens\) than gpt2/);
  });

  it('train: token shards need no tokenizer; steps that need text are skipped with a note', async () => {
    const out = join(dir, 'r3');
    const r0 = await train({ ...tiny, out, data: llmc, tokenizer: join(dir, 'a.json'), steps: 1, logFormat: 'text' }, quiet, gpu);
    expect(r0.steps).toBe(1);
    // a model trained with tokenizer a, then shards without a record and no tokenizer: fine
    const lines: string[] = [];
    const model = join(out, 'checkpoints', 'step-000001', 'model.safetensors');
    const { copyFileSync } = await import('node:fs');
    copyFileSync(model, join(dir, 'bare.safetensors')); // records tokenizer a; no tokenizer.json beside it
    await expect(train({ ...tiny, out: join(dir, 'r5'), data: llmc, init: join(dir, 'bare.safetensors') }, quiet, gpu)).rejects.toThrow(/records a tokenizer \(sha256 [0-9a-f]{12}\) but has no tokenizer\.json/);
    const s = await train({ ...tiny, out: join(dir, 'r6'), data: llmc, init: model, logFormat: 'text' }, (l) => lines.push(l), gpu);
    expect(s.steps).toBe(2);
    // no tokenizer anywhere (llm.c's tiny model, shards without a record): it trains, samples are skipped
    const noTok: string[] = [];
    const t = await train({ ...tiny, out: join(dir, 'r4'), data: llmc, init: join(__dirname, '../fixtures/gpt2-tiny/init.safetensors'), logFormat: 'text' }, (l) => noTok.push(l), gpu);
    expect(t.steps).toBe(2);
    expect(noTok).toContain('no tokenizer: skipping the samples and the multiple-choice evaluation (give --tokenizer to have them)');
    expect(noTok.some((l) => /tokenizer none/.test(l))).toBe(true);
    // a new model has no vocab to take from shards that record nothing
    await expect(train({ ...tiny, out: join(dir, 'r7'), data: llmc }, quiet, gpu)).rejects.toThrow(/record no tokenizer, so the vocab of a new mqg-tiny model is unknown: give --tokenizer/);
  });

  it('sample / eval-mcq / eval: a tokenizer other than the checkpoint\'s, or none at all, is an error, never GPT-2', async () => {
    const out = join(dir, 'r8');
    await train({ ...tiny, out, data, tokenizer: join(dir, 'a.json'), steps: 1 }, quiet, gpu);
    const ck = join(out, 'checkpoints', 'step-000001');
    expect(checkModelInputs({ checkpoint: out, vocabSize: 300, needTokenizer: true, command: 'sample' }).tokenizer!.record.hash).toBe(recordTokenizer(tokA).record.hash);
    expect(() => checkModelInputs({ checkpoint: out, vocabSize: 300, tokenizer: join(dir, 'b.json'), needTokenizer: true, command: 'sample' })).toThrow(/is not the one the model .* was trained with/);
    expect(() => checkModelInputs({ checkpoint: ck, vocabSize: 300, tokenizer: 'gpt2', needTokenizer: true, command: 'eval-mcq' })).toThrow(/the tokenizer gpt2 has 50257 tokens, more than the vocab of the model/);
    // a bare safetensors that records nothing, with nothing beside it
    const bare = join(dir, 'bare-dir');
    mkdirSync(bare);
    const { readFileSync } = await import('node:fs');
    const { parseSafetensors } = await import('../../src/model/source/safetensors');
    const { serializeSafetensors } = await import('../../src/model/source/safetensors-write');
    const p = parseSafetensors(new Uint8Array(readFileSync(join(ck, 'model.safetensors'))));
    const meta = { ...p.metadata };
    delete meta.tokenizer_sha256;
    writeFileSync(join(bare, 'm.safetensors'), serializeSafetensors([...p.tensors].map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: t.data })), meta));
    expect(() => checkModelInputs({ checkpoint: join(bare, 'm.safetensors'), vocabSize: 300, needTokenizer: true, command: 'sample' })).toThrow(/records no tokenizer and has no tokenizer\.json beside it: give --tokenizer/);
    expect(checkModelInputs({ checkpoint: join(bare, 'm.safetensors'), vocabSize: 300, needTokenizer: false, command: 'eval', shards: [join(llmc, 'x_train.bin')] }).tokenizer).toBeUndefined();
    expect(() => checkModelInputs({ checkpoint: out, vocabSize: 300, needTokenizer: false, command: 'eval', shards: [join(data, 'corpus_train_000000.bin')] })).not.toThrow();
  });

  it('empty, whitespace-only and binary inputs are errors', () => {
    expect(() => readTextFile(writeText('empty.txt', ''))).toThrow(new DataError(`text file ${join(dir, 'empty.txt')} is empty`));
    expect(() => readTextFile(writeText('blank.txt', ' \n\n\t\n'))).toThrow('holds only whitespace');
    expect(() => readTextFile(writeText('bin.txt', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1])))).toThrow(`text file ${join(dir, 'bin.txt')} is binary (a NUL byte at offset 4), not text`);
    expect(() => readTextFile(writeText('latin1.txt', new Uint8Array([0x63, 0x61, 0x66, 0xe9])))).toThrow('is not valid UTF-8');
    expect(() => readTextFile(join(dir, 'missing.txt'))).toThrow(`cannot read text file ${join(dir, 'missing.txt')}: ENOENT`);
    expect(() => new DataLoader([new Uint16Array(0)], { B: 1, T: 4, names: ['empty.bin'] })).toThrow(new DataError('DataLoader: empty.bin has 0 tokens, but B*T+1 = 5 are needed for one batch (B=1, T=4)'));
    expect(() => prepareData({ textFiles: [join(dir, 'blank.txt')], tokenizer: tokA, outDir: join(dir, 'never') })).toThrow('holds only whitespace');
  });

  it('the CLI: empty text for tokenizer train and data prepare, an empty MCQ file, --documents bogus', () => {
    let r = mqg('tokenizer', 'train', '--text', join(dir, 'empty.txt'), '--vocab-size', '300', '--out', join(dir, 't.json'));
    expect([r.status, r.stderr.trim()]).toEqual([1, `error: text file ${join(dir, 'empty.txt')} is empty`]);
    r = mqg('data', 'prepare', '--text', join(dir, 'bin.txt'), '--out', join(dir, 'd'));
    expect([r.status, r.stderr.trim()]).toEqual([1, `error: text file ${join(dir, 'bin.txt')} is binary (a NUL byte at offset 4), not text`]);
    r = mqg('data', 'prepare', '--text', join(dir, 'corpus.txt'), '--out', join(dir, 'd'), '--documents', 'bogus');
    expect([r.status, r.stderr.trim()]).toEqual([2, 'error: mqg data prepare: --documents must be one of file, paragraph; got "bogus"']);
    r = mqg('eval-mcq', '--checkpoint', join(dir, 'r8'), '--data', writeText('empty.jsonl', ''));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(/^error: .*empty\.jsonl.*(no multiple-choice questions|empty)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

describe('resolveModelPath', () => {
  it('takes a run directory or a checkpoint directory to its model.safetensors, and names merge for a LoRA run', () => {
    const run = mkdtempSync(join(tmpdir(), 'mqg-resolve-'));
    const step = join(run, 'checkpoints', 'step-000002');
    mkdirSync(join(step, 'adapter'), { recursive: true });
    // a LoRA run: adapters only (before: "checkpoint file not found: .../model.safetensors" from the loader)
    expect(() => resolveModelPath(run)).toThrow(DataError);
    expect(() => resolveModelPath(run)).toThrow(/step-000002 holds a LoRA adapter \(adapter\/\), not a model: fold it into its base with `mqg merge`.*--init-adapter .*step-000002\/adapter/);
    writeFileSync(join(step, 'model.safetensors'), '');
    expect(resolveModelPath(run)).toBe(join(step, 'model.safetensors'));
    expect(resolveModelPath(step)).toBe(join(step, 'model.safetensors'));
    expect(resolveModelPath(join(run, 'nothing-here'))).toBe(join(run, 'nothing-here'));
  });
});
