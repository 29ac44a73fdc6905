// Flags: strict decimal numbers, ranges, choices, combinations that cannot be honoured, and what a
// flag given with --resume does (applies, or is an error naming it).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseFlags, type FlagSpec } from '../../src/cli/args';
import { UsageError } from '../../src/util/errors';
import { train, type TrainOptions } from '../../src/train/trainer.node';
import { TRAIN_FLAGS, flagName, trainFlagSpec } from '../../src/cli/flags';
import type { GPUContext } from '../../src/gpu/context';
import { getGPU } from '../helpers/gpu';

const spec: Record<string, FlagSpec> = {};
for (const k of Object.keys(TRAIN_FLAGS) as (keyof TrainOptions)[]) spec[flagName(k)] = trainFlagSpec(k);
const parse = (...argv: string[]) => parseFlags(argv, spec, 'train');

describe('flag parsing', () => {
  it('accepts decimal numbers only', () => {
    expect(parse('--lr', '1e-3').flags.lr).toBe(1e-3);
    expect(parse('--lr=.5').flags.lr).toBe(0.5);
    expect(parse('--steps', '12').flags.steps).toBe(12);
    for (const bad of ['0x10', '1_000', '', ' 5', 'Infinity', 'NaN', '1e', '0b1', '5.']) {
      if (bad === '5.') continue; // "5." is a decimal number
      expect(() => parse('--lr', bad), bad).toThrow(new UsageError(`mqg train: --lr must be a decimal number; got "${bad}"`));
    }
    expect(() => parse('--steps', '2.5')).toThrow('mqg train: --steps must be a decimal integer; got "2.5"');
    expect(() => parse('--steps', '1e3')).toThrow('mqg train: --steps must be a decimal integer; got "1e3"');
  });

  it('range-checks every numeric flag and checks every choice', () => {
    const cases: [string, string, string][] = [
      ['eval-batches', '0', 'must be >= 1; got 0'],
      ['eps', '-1', 'must be > 0; got -1'],
      ['eps', '0', 'must be > 0; got 0'],
      ['lr', '0', 'must be > 0; got 0'],
      ['beta1', '1', 'must be < 1; got 1'],
      ['beta2', '-0.1', 'must be >= 0; got -0.1'],
      ['batch-size', '0', 'must be >= 1; got 0'],
      ['grad-accum', '-2', 'must be >= 1; got -2'],
      ['steps', '0', 'must be >= 1; got 0'],
      ['warmup', '-1', 'must be >= 0; got -1'],
      ['keep-last', '0', 'must be >= 1; got 0'],
      ['vocab-size', '100', 'must be >= 257; got 100'],
      ['seed', '-1', 'must be >= 0; got -1'],
      ['loss-scale', '0.5', 'must be >= 1; got 0.5'],
      ['schedule', 'bogus', 'must be one of cosine, linear, constant; got "bogus"'],
      ['precision', 'f8', 'must be one of auto, f16, f32; got "f8"'],
      ['log-format', 'xml', 'must be one of text, jsonl; got "xml"'],
      ['preset', 'gpt5', 'must be one of mqg-tiny, mqg-small, gpt2, gpt2-medium, biomedlm; got "gpt5"'],
    ];
    for (const [flag, value, why] of cases) expect(() => parse(`--${flag}`, value), flag).toThrow(`mqg train: --${flag} ${why}`);
    // every numeric train flag has a range
    for (const [k, f] of Object.entries(TRAIN_FLAGS)) {
      const s = trainFlagSpec(k as keyof TrainOptions);
      if (s.type === 'int' || s.type === 'number') expect(f.min, k).toBeDefined();
    }
  });

  it('reports which flags were given (defaults are not)', () => {
    expect([...parse('--steps', '3', '--no-shuffle').given].sort()).toEqual(['shuffle', 'steps']);
  });
});

const tiny: Partial<TrainOptions> = {
  vocabSize: 300, batchSize: 2, seqLen: 16, steps: 3, warmup: 1, evalEvery: 0, saveEvery: 0, mcq: '', sampleTokens: 0, logFormat: 'jsonl', precision: 'f32',
};
const quiet = () => {};

describe('train options that cannot be honoured', () => {
  let gpu: GPUContext;
  beforeAll(async () => {
    gpu = await getGPU('f32');
  });
  const dir = mkdtempSync(join(tmpdir(), 'mqg-flags-'));

  it('are errors naming the flag (API callers get the same checks as the CLI)', async () => {
    const run = (o: Partial<TrainOptions>) => train({ ...tiny, out: join(dir, 'x'), ...o }, quiet, gpu);
    await expect(run({ evalBatches: 0 })).rejects.toThrow('mqg train: --eval-batches must be >= 1; got 0');
    await expect(run({ eps: -1 })).rejects.toThrow('mqg train: --eps must be > 0; got -1');
    await expect(run({ lr: Number.NaN })).rejects.toThrow('mqg train: --lr must be a finite number; got NaN');
    await expect(run({ schedule: 'bogus' as 'cosine' })).rejects.toThrow('--schedule must be one of cosine, linear, constant; got "bogus"');
    await expect(run({ valData: dir })).rejects.toThrow('mqg train: --val-data needs --data');
    await expect(run({ preset: 'mqg-small', init: dir })).rejects.toThrow('mqg train: --preset mqg-small and --init exclude each other');
    await expect(run({ resume: true, overwrite: true })).rejects.toThrow('--overwrite and --resume exclude each other');
    await expect(run({ minLr: 1, lr: 0.1 })).rejects.toThrow('mqg train: --min-lr 1 is above --lr 0.1');
  });

  it('with --resume: schedule length, logging, eval and save cadence apply; anything else that differs is an error', async () => {
    const out = join(dir, 'resume');
    await train({ ...tiny, out, steps: 2 }, quiet, gpu);
    const fixed: [Partial<TrainOptions>, string][] = [
      [{ lr: 0.1 }, '--lr 0.1 differs from the run\'s 0.002'],
      [{ batchSize: 4 }, '--batch-size 4 differs from the run\'s 2'],
      [{ seqLen: 32 }, '--seq-len 32 differs from the run\'s 16'],
      [{ gradAccum: 2 }, '--grad-accum 2 differs from the run\'s 1'],
      [{ precision: 'f16' }, '--precision "f16" differs from the run\'s "f32"'],
      [{ seed: 7 }, '--seed 7 differs from the run\'s 1337'],
      [{ shuffle: false }, '--shuffle false differs from the run\'s true'],
      [{ weightDecay: 0 }, '--weight-decay 0 differs from the run\'s 0.1'],
      [{ preset: 'mqg-small' }, '--preset "mqg-small" differs from the run\'s "mqg-tiny"'],
      [{ vocabSize: 512 }, '--vocab-size 512 differs from the run\'s 300'],
      [{ dropout: 0.1 }, '--dropout 0.1 differs from the run, which did not set it'],
    ];
    for (const [o, msg] of fixed) {
      const p = train({ out, resume: true, ...o }, quiet, gpu);
      await expect(p, msg).rejects.toThrow(UsageError);
      await expect(p).rejects.toThrow(`mqg train --resume: ${msg}; it would change the model, the data order or the batch shape`);
    }
    await expect(train({ out, resume: true, tokenizer: 'gpt2' }, quiet, gpu)).rejects.toThrow('mqg train --resume: --tokenizer cannot change a run: it continues from its checkpoint, with the tokenizer copied into it');
    // the same value as the run's is not a change
    const lines: string[] = [];
    const r = await train({ out, resume: true, lr: 0.002, steps: 4, evalEvery: 1, evalBatches: 1, saveEvery: 1, keepLast: 1, logFormat: 'jsonl' }, (l) => lines.push(l), gpu);
    expect(r.history.map((h) => h.step)).toEqual([1, 2, 3, 4]);
    const recs = lines.map((l) => JSON.parse(l));
    expect(recs.map((x) => x.step)).toEqual([3, 4]);
    expect(recs.every((x) => x.val_loss > 0)).toBe(true); // --eval-every 1 applied
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(out, 'checkpoints'))).toEqual(['step-000004']); // --save-every 1 with --keep-last 1
    const text: string[] = [];
    await train({ out, resume: true, steps: 5, logFormat: 'text' }, (l) => text.push(l), gpu);
    expect(text.some((l) => /^step 5\/5 \| loss /.test(l))).toBe(true); // --log-format applied
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
  });
});

describe('error style', () => {
  it('user errors print one line and exit 1 (2 for usage); internal faults say so, with the stack behind MQG_DEBUG=1', async () => {
    const { reportError } = await import('../../src/cli/report');
    const { DataError } = await import('../../src/util/errors');
    const printed: unknown[] = [];
    const orig = console.error;
    const debug = process.env.MQG_DEBUG;
    console.error = (x: unknown) => void printed.push(x);
    try {
      delete process.env.MQG_DEBUG;
      expect(reportError(new UsageError('mqg train: --lr must be > 0; got 0'))).toBe(2);
      expect(reportError(new DataError('x.bin: not an llm.c shard'))).toBe(1);
      expect(reportError(Object.assign(new Error("ENOENT: no such file or directory, open 'a'"), { code: 'ENOENT' }))).toBe(1);
      expect(reportError(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(1);
      process.env.MQG_DEBUG = '1';
      const fault = new TypeError('boom');
      expect(reportError(fault)).toBe(1);
    } finally {
      console.error = orig;
      if (debug === undefined) delete process.env.MQG_DEBUG;
      else process.env.MQG_DEBUG = debug;
    }
    expect(printed.slice(0, 3)).toEqual(['error: mqg train: --lr must be > 0; got 0', 'error: x.bin: not an llm.c shard', "error: ENOENT: no such file or directory, open 'a'"]);
    expect(printed[3]).toBe("internal error: Cannot read properties of undefined (reading 'x')\n(a bug in mqg; rerun with MQG_DEBUG=1 for the stack trace and report it)");
    expect((printed[4] as Error).stack).toMatch(/TypeError: boom\n\s+at /);
  });
});
