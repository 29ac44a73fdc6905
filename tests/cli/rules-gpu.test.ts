// The rules of issue 25 that need a model on the GPU: a run directory as --init, and --resume with
// the run's own command line (its --init and --tokenizer given again); eval-mcq --report into a
// directory that does not exist yet (created after the evaluation, the check before it); sample
// saying that --max-tokens passes the model's context.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { train, type TrainOptions } from '../../src/train/trainer.node';
import type { GPUContext } from '../../src/gpu/context';
import { getGPU } from '../helpers/gpu';
import { loadModel } from '../../src/model/io.node';
import { buildCli, cliEnv } from '../helpers/cli';

const tiny: Partial<TrainOptions> = {
  vocabSize: 300, batchSize: 2, seqLen: 16, steps: 2, warmup: 1, evalEvery: 0, saveEvery: 0, mcq: '', sampleTokens: 0, logFormat: 'jsonl', precision: 'f32',
};
const quiet = () => {};
const W = mkdtempSync(join(tmpdir(), 'mqg-rules-gpu-'));
afterAll(() => rmSync(W, { recursive: true, force: true }));
const mqgEnv = (env: Record<string, string>, ...args: string[]) => {
  const r = spawnSync('node', [resolve('bin/mqg.js'), ...args], { encoding: 'utf8', env: cliEnv(env), timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const mqg = (...args: string[]) => mqgEnv({}, ...args);

describe('run directories and resume from the same command line', () => {
  let gpu: GPUContext;
  const base = join(W, 'base');
  beforeAll(async () => {
    gpu = await getGPU('f32');
    await train({ ...tiny, out: base }, quiet, gpu);
    buildCli();
  });

  it('train --init takes a run directory; --resume with the same --init and --tokenizer continues', async () => {
    const out = join(W, 'from-run');
    const tok = join(base, 'checkpoints', 'step-000002', 'tokenizer.json');
    const data = join(base, 'data'); // the bundled corpus as the base run tokenized it
    const first = await train({ ...tiny, vocabSize: undefined, init: base, tokenizer: tok, data, out }, quiet, gpu);
    expect(first.steps).toBe(2);
    const again = await train({ ...tiny, vocabSize: undefined, init: base, tokenizer: tok, data, out, resume: true, steps: 3 }, quiet, gpu);
    expect(again.steps).toBe(3);
    await expect(train({ ...tiny, vocabSize: undefined, init: join(base, 'checkpoints', 'step-000002', 'model.safetensors'), data, out, resume: true, steps: 4 }, quiet, gpu))
      .rejects.toThrow('--init cannot change a run');
  });

  it('loadModel takes a run directory (its newest checkpoint)', async () => {
    const model = await loadModel(gpu, base, { training: false });
    expect(model.config.vocabSize).toBe(300);
    model.destroy();
  });

  it('eval-mcq --report into a directory that does not exist yet', () => {
    const report = join(W, 'reports', 'new', 'r.json');
    const r = mqgEnv({ MQG_PROGRESS: '1' }, 'eval-mcq', '--checkpoint', base, '--data', 'data/corpus/mcq.jsonl', '--limit', '2', '--scorer', 'loglik', '--precision', 'f32', '--report', report);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\rquestions 2\/2 \| ETA 0s +\n/); // the progress line, asked for on a pipe
    expect(r.stderr).toMatch(/is a run directory: using its newest checkpoint/);
    expect(JSON.parse(readFileSync(report, 'utf8')).questions).toBe(2);
    const again = mqg('eval-mcq', '--checkpoint', base, '--data', 'data/corpus/mcq.jsonl', '--limit', '2', '--scorer', 'loglik', '--precision', 'f32', '--report', report);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/--report .* already exists; give --overwrite/);
    expect(existsSync(report)).toBe(true);
  });

  it('finetune-mcq warns when --val-data is --data (leakage)', () => {
    const r = mqg('finetune-mcq', '--init', base, '--data', 'data/corpus/mcq.jsonl', '--val-data', 'data/corpus/mcq.jsonl', '--steps', '1', '--batch-size', '2',
      '--eval-every', '0', '--precision', 'f32', '--out', join(W, 'ft'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/warning: --val-data data\/corpus\/mcq\.jsonl is the same file as --data: the validation score is not held out/);
  });

  it('eval --checkpoint takes a run directory (its newest checkpoint, named on stderr)', () => {
    const r = mqg('eval', '--checkpoint', base, '--data', join(base, 'data'), '--max-batches', '1', '--batch-size', '1', '--seq-len', '16', '--precision', 'f32', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ETA/); // a pipe, not asked: no progress line
    expect(r.stderr).toMatch(/is a run directory: using its newest checkpoint, .*step-000002 \(step 2\)/);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).loss).toBeGreaterThan(0);
  });

  it("a GPU command's stderr: its own lines only (Dawn's two limit lines filtered by bin/mqg.js)", () => {
    // Dawn (native code, NormalizeLimits in Limits.cpp) prints "Warning: maxDynamic{Uniform,Storage}
    // BuffersPerPipelineLayout artificially reduced from N to 16" with fprintf(stderr) when it opens
    // an adapter whose Vulkan driver reports more than 16 (Mesa's lavapipe and RADV). bin/mqg.js runs
    // the CLI as a child and drops exactly those lines; MQG_NO_WRAP=1 shows what it filters.
    const dawn = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to 16 to fit dynamic offset allocation limit\.$/;
    const args = ['sample', '--checkpoint', base, '--max-tokens', '4', '--precision', 'f32', '--temperature', '0'];
    const lines = (s: string) => s.split('\n').filter((l) => l.trim());
    const r = mqg(...args);
    expect(r.status, r.stderr).toBe(0);
    expect(lines(r.stderr).filter((l) => /^(Warning|Error|Info):/.test(l))).toEqual([]);
    const raw = mqgEnv({ MQG_NO_WRAP: '1' }, ...args);
    expect(raw.status, raw.stderr).toBe(0);
    const theirs = lines(raw.stderr).filter((l) => dawn.test(l));
    expect(theirs.length).toBeLessThanOrEqual(2); // where the driver reports more than 16: the two lines, once
    expect(lines(raw.stderr).filter((l) => !dawn.test(l))).toEqual(lines(r.stderr)); // nothing else dropped
    expect(raw.stdout).toBe(r.stdout);
  });

  it('sample says when --max-tokens passes the context', () => {
    const r = mqg('sample', '--checkpoint', base, '--max-tokens', '100000', '--precision', 'f32', '--temperature', '0');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/--max-tokens 100000: the model's context \(\d+\) leaves room for \d+ after the prompt; generating at most \d+/);
    expect(r.stdout).not.toMatch(/[\u0000\uFFFD]/);
  });
});
