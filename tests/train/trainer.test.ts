// The trainer: exact resume, checkpoints, logs, and clear errors for bad input.
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GPT2, makeConfig } from '../../src/index';
import { saveModel } from '../../src/node';
import { train, type TrainOptions } from '../../src/train/trainer.node';
import { parseFlags } from '../../src/cli/args';
import { PRECISIONS, getGPU } from '../helpers/gpu';

const small: Partial<TrainOptions> = {
  preset: 'mqg-tiny', vocabSize: 512, batchSize: 2, seqLen: 32, steps: 6, warmup: 2, evalEvery: 3, evalBatches: 2,
  saveEvery: 3, mcq: '', sampleTokens: 4, logFormat: 'jsonl', precision: 'f32',
};

const quiet = () => {};

describe('trainer', () => {
  it('a resumed run matches an uninterrupted one step for step', async () => {
    const gpu = await getGPU('f32');
    const a = mkdtempSync(join(tmpdir(), 'mqg-run-a-'));
    const b = mkdtempSync(join(tmpdir(), 'mqg-run-b-'));
    const full = await train({ ...small, out: a }, quiet, gpu);
    await train({ ...small, out: b, steps: 3 }, quiet, gpu);
    const resumed = await train({ out: b, resume: true, steps: 6, logFormat: 'jsonl' }, quiet, gpu);
    expect(full.history.map((r) => r.loss)).toHaveLength(6);
    expect(resumed.history.map((r) => r.loss)).toEqual(full.history.map((r) => r.loss));
    expect(resumed.history.map((r) => r.lr)).toEqual(full.history.map((r) => r.lr));
    expect(full.history[5]!.loss).toBeLessThan(full.history[0]!.loss);
    // metrics.jsonl has one object per step with the documented fields
    const lines = readFileSync(join(a, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const l of lines) for (const k of ['step', 'loss', 'lr', 'ms', 'tokens_per_s']) expect(typeof l[k]).toBe('number');
    expect(lines[2].val_loss).toBeGreaterThan(0);
    expect(existsSync(join(a, 'loss.svg'))).toBe(true);
    expect(readFileSync(join(a, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<path d="M/);
    // checkpoints are directories, the newest --keep-last 2 kept; nothing half-written is left behind
    expect(readdirSync(join(a, 'checkpoints'))).toEqual(['step-000003', 'step-000006']);
    expect(readdirSync(join(a, 'checkpoints', 'step-000006')).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json', 'train_state.safetensors']);
  });

  it('stops on a NaN loss with a message, writing no checkpoint', async () => {
    const gpu = await getGPU('f32');
    const dir = mkdtempSync(join(tmpdir(), 'mqg-nan-'));
    const model = new GPT2(gpu, makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 64, vocabSize: 512 }));
    model.initRandom(1);
    const w = await model.weights();
    w.get('ln_f.weight')![3] = NaN;
    model.loadWeights(w);
    await saveModel(model, join(dir, 'nan.safetensors'));
    const out = join(dir, 'run');
    await expect(train({ ...small, preset: undefined, out, init: join(dir, 'nan.safetensors') }, quiet, gpu)).rejects.toThrow(/loss is NaN at step 1; stopping \(no good checkpoint was written\)/);
    expect(existsSync(join(out, 'checkpoints'))).toBe(false);
  });

  it('names the problem for bad input', async () => {
    const gpu = await getGPU('f32');
    const dir = mkdtempSync(join(tmpdir(), 'mqg-bad-'));
    await expect(train({ ...small, out: dir, data: join(dir, 'missing.bin') }, quiet, gpu)).rejects.toThrow(/--data: no such file or directory: .*missing\.bin/);
    await expect(train({ ...small, out: dir, resume: true }, quiet, gpu)).rejects.toThrow(/--resume: no checkpoint in/);
    await expect(train({ ...small, out: dir, batchSize: 0 }, quiet, gpu)).rejects.toThrow(/--batch-size must be >= 1; got 0/);
    await expect(train({ ...small, out: dir, seqLen: 512 }, quiet, gpu)).rejects.toThrow(/--seq-len 512 exceeds the model's context \(256\)/);
    // a shard whose header is not llm.c's
    const bad = join(dir, 'bad_train.bin');
    writeFileSync(bad, new Uint8Array(2048).fill(7));
    await expect(train({ ...small, out: dir, data: bad, tokenizer: 'gpt2' }, quiet, gpu)).rejects.toThrow(/bad_train\.bin: not an llm\.c shard: bad magic 117901063 \(0x7070707\), expected 20240520/);
    // a token id beyond the model's vocabulary
    const hdr = new Int32Array(256);
    hdr.set([20240520, 1, 200]);
    const toks = new Uint16Array(200).fill(60000);
    const big = join(dir, 'big_train.bin');
    writeFileSync(big, Buffer.concat([Buffer.from(hdr.buffer), Buffer.from(toks.buffer)]));
    await expect(train({ ...small, out: dir, data: big, tokenizer: 'gpt2' }, quiet, gpu)).rejects.toThrow(/60000/);
    await expect(train({ ...small, out: dir, data: big, tokenizer: join(dir, 'none.json') }, quiet, gpu)).rejects.toThrow(/tokenizer not found/);
    expect(() => parseFlags(['--bogus', '1'], { steps: { type: 'int', help: '' } }, 'train')).toThrow(/mqg train: unknown flag --bogus/);
    expect(() => parseFlags(['--steps', 'ten'], { steps: { type: 'int', help: '' } }, 'train')).toThrow(/--steps must be a decimal integer; got "ten"/);
  });

  it.skipIf(!PRECISIONS.includes('f16'))('reports a skipped (overflowed) f16 update on its step line and in metrics.jsonl', async () => {
    const gpu = await getGPU('f16');
    const out = mkdtempSync(join(tmpdir(), 'mqg-skip-'));
    const lines: string[] = [];
    const r = await train({ ...small, precision: 'f16', lossScale: 2 ** 24, steps: 3, evalEvery: 0, saveEvery: 0, logFormat: 'text', out: join(out, 'run') }, (l) => lines.push(l), gpu);
    expect(r.history[0]!.skipped).toBe(true);
    expect(r.skippedSteps).toBeGreaterThanOrEqual(1);
    expect(lines.find((l) => /^step 1\/3/.test(l))).toMatch(/ \| update SKIPPED \(gradient norm (Infinity|NaN), loss scale now \d+; 1 in a row\)$/);
    const m = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(m[0].skipped).toBe(true);
    expect(m[1].loss_scale).toBeLessThan(m[0].loss_scale); // each overflow halves the scale
  });
});
