// One run lifecycle under both commands that train: `train` (mqg train) and `finetuneMcq`
// (mqg finetune-mcq) each go through Run.open and Run.train (src/train/run.node.ts), and behave the
// same on --resume (bit for bit), Ctrl-C (a checkpoint that resumes) and --overwrite (refused
// unasked, replaced when asked). Each command opens a checkpoint once: the --init one on a fresh
// run, the newest checkpoint on a resume (counted at the file-open function the loader uses).
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { GPT2, makeConfig } from '../../src/index';
import { saveModel } from '../../src/node';
import type { GPUContext } from '../../src/gpu/context';
import { RunDirError } from '../../src/util/errors';
import { checkpointFiles } from '../../src/model/source/file.node';
import { Run } from '../../src/train/run.node';
import { train, type TrainOptions } from '../../src/train/trainer.node';
import { finetuneMcq, type FinetuneMcqOptions } from '../../src/train/finetune-mcq.node';
import { prepareData } from '../../src/train/data/shards.node';
import { loadTokenizerRecorded, saveTokenizer } from '../../src/train/tokenizer/load.node';
import { trainBpe } from '../../src/train/tokenizer/train';
import { getGPU } from '../helpers/gpu';
import { mqg, mqgChild } from '../helpers/cli';

const dir = mkdtempSync(join(tmpdir(), 'mqg-lifecycle-'));
const tokPath = join(dir, 'tok.json');
const shards = join(dir, 'shards');
const init = join(dir, 'init.safetensors');
const quiet = () => {};
let gpu: GPUContext;

beforeAll(async () => {
  gpu = await getGPU('f32');
  const tok = trainBpe([readFileSync('data/corpus/questions.txt', 'utf8')], 300, { name: 'bpe-300' });
  saveTokenizer(tokPath, tok);
  prepareData({ textFiles: ['data/corpus/questions.txt'], tokenizer: tok, tokenizerRecord: loadTokenizerRecorded(tokPath).record, outDir: shards, valFraction: 0.1, documents: 'paragraph' });
  const model = new GPT2(gpu, makeConfig({ nLayer: 1, nHead: 2, nEmbd: 32, nPositions: 64, vocabSize: tok.vocabSize }));
  model.initRandom(7);
  await saveModel(model, init);
  model.destroy();
}, 120_000);

type Command = 'train' | 'finetune-mcq';
const trainBase: Partial<TrainOptions> = {
  init, data: shards, tokenizer: tokPath, batchSize: 2, seqLen: 16, warmup: 1, evalEvery: 0, saveEvery: 0, mcq: '', sampleTokens: 0, logFormat: 'jsonl', precision: 'f32',
};
const finetuneBase: Partial<FinetuneMcqOptions> = {
  init, tokenizer: tokPath, data: 'data/corpus/mcq.jsonl', valSplit: 0.05, batchSize: 2, lr: 1e-3, warmup: 1, evalEvery: 0, logFormat: 'jsonl', precision: 'f32',
};
/** Runs a command through the library; `fresh`: the options of a new run (else only `o`, as a resume gives). */
async function run(cmd: Command, o: Record<string, unknown>, fresh = true, log: (l: string) => void = quiet): Promise<{ steps: number; interrupted: boolean }> {
  if (cmd === 'train') return train({ ...(fresh ? trainBase : {}), ...o }, log, gpu);
  return finetuneMcq({ ...(fresh ? finetuneBase : {}), ...o }, log, gpu);
}
const losses = (out: string) => readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss as number);
const ckpts = (out: string) => readdirSync(join(out, 'checkpoints')).sort();

/** The checkpoint files a call opens (every weight file goes through checkpointFiles.open). */
async function opens<T>(f: () => Promise<T>): Promise<{ result: T; files: string[] }> {
  const spy = vi.spyOn(checkpointFiles, 'open');
  try {
    const result = await f();
    return { result, files: spy.mock.calls.map((c) => c[0]) };
  } finally {
    spy.mockRestore();
  }
}

describe.each(['train', 'finetune-mcq'] as Command[])('the run lifecycle of %s', (cmd) => {
  const root = join(dir, cmd);
  const straight = join(root, 'straight');

  it('resumes bit for bit, opening each checkpoint once (--init on the fresh run, the newest checkpoint on the resume)', async () => {
    const open = vi.spyOn(Run, 'open');
    const loop = vi.spyOn(Run.prototype, 'train');
    try {
      await run(cmd, { out: straight, steps: 4 });
      const part = join(root, 'part');
      const first = await opens(() => run(cmd, { out: part, steps: 2 }));
      expect(first.files).toEqual([init]);
      const resumed = await opens(() => run(cmd, { out: part, resume: true, steps: 4 }, false));
      expect(resumed.files).toEqual([join(part, 'checkpoints', 'step-000002', 'model.safetensors')]);
      expect(losses(part)).toEqual(losses(straight));
      expect(losses(part)).toHaveLength(4);
      // the one lifecycle: every run of this command went through Run.open and Run.train
      expect(open.mock.calls.map((c) => c[0])).toEqual([cmd, cmd, cmd]);
      expect(loop).toHaveBeenCalledTimes(3);
    } finally {
      open.mockRestore();
      loop.mockRestore();
    }
  }, 120_000);

  it('Ctrl-C mid-run saves a checkpoint that resumes to the uninterrupted run', async () => {
    const out = join(root, 'ctrl-c');
    let sent = false;
    const lines: string[] = [];
    const r = await run(cmd, { out, steps: 4 }, true, (l) => {
      lines.push(l);
      if (!sent && l.startsWith('{')) {
        sent = true;
        process.emit('SIGINT');
      }
    });
    expect(r.interrupted).toBe(true);
    expect(r.steps).toBe(1);
    expect(lines).toContain('\ninterrupted: saving a checkpoint after this step (Ctrl-C again to abandon it)');
    expect(ckpts(out)).toEqual(['step-000001']);
    expect(process.listenerCount('SIGINT')).toBe(0);
    const resumed = await run(cmd, { out, resume: true, steps: 4 }, false);
    expect(resumed.interrupted).toBe(false);
    expect(losses(out)).toEqual(losses(straight));
  }, 120_000);

  it('an existing run is refused without --overwrite and replaced with it', async () => {
    const out = join(root, 'overwrite');
    await run(cmd, { out, steps: 2 });
    const again = run(cmd, { out, steps: 2 });
    await expect(again).rejects.toThrow(RunDirError);
    await expect(again).rejects.toThrow(`--out ${out} already holds a run; continue it with --resume, or replace it with --overwrite`);
    expect(losses(out)).toHaveLength(2);
    await run(cmd, { out, steps: 1, overwrite: true });
    expect(losses(out)).toHaveLength(1);
    expect(ckpts(out)).toEqual(['step-000001']);
    expect(existsSync(join(out, 'loss.svg'))).toBe(true);
    // and --resume without a checkpoint is the same error for both
    await expect(run(cmd, { out: join(root, 'empty'), resume: true }, false)).rejects.toThrow(`--resume: no checkpoint in ${join(root, 'empty', 'checkpoints')} (nothing to resume; drop --resume to start a run)`);
  }, 120_000);
});

describe('mqg finetune-mcq from the command line (the lifecycle mqg train has)', () => {
  it('one Ctrl-C saves a checkpoint and exits 130; --resume continues it; the run is not replaced unasked', async () => {
    const out = join(dir, 'cli-ctrl-c');
    const args = ['finetune-mcq', '--init', init, '--tokenizer', tokPath, '--data', 'data/corpus/mcq.jsonl', '--val-split', '0.05', '--batch-size', '2', '--eval-every', '0', '--precision', 'f32', '--out', out];
    const p = mqgChild([...args, '--steps', '500']);
    await p.waitFor(/step +2\/500/);
    p.child.kill('SIGINT');
    expect((await p.exit).code).toBe(130);
    expect(p.output()).toMatch(/interrupted: saving a checkpoint after this step/);
    const m = p.output().match(/stopped at step (\d+); resume with: mqg finetune-mcq --resume --out/);
    const step = Number(m![1]);
    expect(step).toBeGreaterThanOrEqual(2);
    expect(ckpts(out)).toEqual([`step-${String(step).padStart(6, '0')}`]);
    let r = mqg(...args, '--steps', '3');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe(`error: --out ${out} already holds a run; continue it with --resume, or replace it with --overwrite`);
    r = mqg('finetune-mcq', '--resume', '--out', out, '--steps', String(step + 1));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`resumed from .*step-${String(step).padStart(6, '0')}, the newest complete checkpoint \\(step ${step}\\)`));
    expect(ckpts(out)).toContain(`step-${String(step + 1).padStart(6, '0')}`);
  }, 180_000);
});
