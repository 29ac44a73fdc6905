// --quantize through the built `mqg`: eval of the golden Q8_0 case, the golden Q4_0 QLoRA case's
// 10 losses through `mqg train --init --init-adapter --quantize q4_0` (the run records the type and
// resumes on a base quantized again from --init; `mqg merge` folds its adapter into the
// full-precision base), `mqg plan --quantize` against memoryPlan, and
// the one-line refusals (train without --lora, finetune-mcq).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { memoryPlan, fmtBytes } from '../../src/model/memory';
import { readCheckpointConfig } from '../../src/model/checkpoint.node';
import { listCheckpoints } from '../../src/train/rundir.node';
import { parseSafetensors } from '../../src/model/source/safetensors';
import { mqg } from '../helpers/cli';
import { PRECISIONS } from '../helpers/gpu';

const FIXTURES = join(__dirname, '../fixtures');
const BASE = join(FIXTURES, 'hf-biomedlm-tiny');
const Q8 = join(FIXTURES, 'hf-biomedlm-tiny-q8_0');
const Q4 = join(FIXTURES, 'hf-biomedlm-tiny-q4_0-lora');
const HAVE = existsSync(join(Q8, 'expected.json')) && existsSync(join(Q4, 'expected.json'));
if (!HAVE) console.warn(`skipping --quantize through mqg: ${Q8} or ${Q4} is absent`);
const TOL = { f32: 2e-5, f16: 1e-2 } as const;
// each command compiles the quantized GEMM's pipelines afresh: minutes on a loaded software adapter
vi.setConfig({ testTimeout: 600_000 });

const dir = mkdtempSync(join(tmpdir(), 'mqg-quantize-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const expected = (d: string) => JSON.parse(readFileSync(join(d, 'expected.json'), 'utf8'));
const evalFlags = ['--data', join(BASE, 'tokens.bin'), '--batch-size', '4', '--seq-len', '32', '--max-batches', '1', '--log-format', 'jsonl'];
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);
const losses = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l).loss as number);

function trainFlags(steps: number): string[] {
  const o = expected(Q4).stream.optimizer;
  return [
    '--init', join(BASE, 'model'), '--init-adapter', join(Q4, 'adapter'), '--quantize', 'q4_0', '--data', join(BASE, 'tokens.bin'),
    '--batch-size', '4', '--seq-len', '32', '--steps', String(steps), '--no-shuffle', '--schedule', 'constant', '--warmup', '0',
    '--lr', String(o.lr), '--beta1', String(o.beta1), '--beta2', String(o.beta2), '--eps', String(o.eps), '--weight-decay', String(o.weight_decay),
    '--grad-clip', '0', '--eval-every', '0', '--log-format', 'jsonl', '--loss-scale', '1024', '--dropout', '0', '--sample-tokens', '0', '--mcq', '',
  ];
}

describe.skipIf(!HAVE).each(PRECISIONS)('mqg --quantize on the golden cases, %s', (precision) => {
  it('mqg eval --quantize q8_0: the golden eval0 loss (and not the unquantized one in f32)', () => {
    const r = mqg('eval', '--checkpoint', join(BASE, 'model'), '--quantize', 'q8_0', '--precision', precision, ...evalFlags);
    expect(r.status, r.stderr).toBe(0);
    const loss = lastJson(r.stdout).loss as number;
    console.log(`mqg eval --quantize q8_0 ${precision}: ${loss} vs ${expected(Q8).eval0.loss}`);
    expect(Math.abs(loss - expected(Q8).eval0.loss)).toBeLessThan(TOL[precision]);
    if (precision === 'f32') {
      const plain = mqg('eval', '--checkpoint', join(BASE, 'model'), '--precision', precision, ...evalFlags);
      expect(Math.abs(lastJson(plain.stdout).loss - expected(Q8).eval0.loss)).toBeGreaterThan(TOL.f32);
    }
  });

  it('mqg eval --quantize q4_0 --adapter: the golden QLoRA eval0 loss', () => {
    const r = mqg('eval', '--checkpoint', join(BASE, 'model'), '--adapter', join(Q4, 'adapter'), '--quantize', 'q4_0', '--precision', precision, ...evalFlags);
    expect(r.status, r.stderr).toBe(0);
    expect(Math.abs(lastJson(r.stdout).loss - expected(Q4).eval0.loss)).toBeLessThan(TOL[precision]);
  });

  it('mqg train --init --init-adapter --quantize q4_0: the golden 10 losses; the run records q4_0 and resumes', () => {
    const out = join(dir, `train-${precision}`);
    const r = mqg('train', ...trainFlags(10), '--precision', precision, '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const got = losses(r.stdout);
    expect(got).toHaveLength(10);
    got.forEach((l, i) => expect(Math.abs(l - expected(Q4).stream.losses[i]), `step ${i}`).toBeLessThanOrEqual(TOL[precision]));
    const ckpts = listCheckpoints(out);
    const state = parseSafetensors(new Uint8Array(readFileSync(join(ckpts[ckpts.length - 1]!.dir, 'train_state.safetensors'))), 'train_state').metadata;
    const record = JSON.parse(Object.values(state).find((v) => v.includes('"options"'))!);
    expect(record.options.quantize).toBe('q4_0');
    expect(record.options.init).toMatch(/hf-biomedlm-tiny[\\/]model$/);
    const more = mqg('train', '--resume', '--steps', '11', '--out', out, '--log-format', 'text');
    expect(more.status, more.stderr).toBe(0);
    expect(more.stdout).toMatch(/base quantized q4_0: 12 block matmul weights \(.*KiB\)/);
    expect(more.stdout).toMatch(/step +11\b/);
    expect(mqg('train', '--resume', '--steps', '12', '--out', out, '--quantize', 'q8_0').stderr).toMatch(/--quantize "q8_0" differs from the run's "q4_0"/);
    // mqg merge folds the adapter trained on the quantized base into the full-precision base
    const adapter = join(listCheckpoints(out).pop()!.dir, 'adapter');
    const merged = join(dir, `merged-${precision}`);
    expect(mqg('merge', '--init', join(BASE, 'model'), '--adapter', adapter, '--out', merged).status).toBe(0);
    const m = lastJson(mqg('eval', '--checkpoint', merged, '--precision', precision, ...evalFlags).stdout).loss as number;
    const adapted = lastJson(mqg('eval', '--checkpoint', join(BASE, 'model'), '--adapter', adapter, '--precision', precision, ...evalFlags).stdout).loss as number;
    expect(Math.abs(m - adapted)).toBeLessThan(precision === 'f32' ? 1e-5 : 1e-2);
  });
});

describe.skipIf(!HAVE)('mqg --quantize rules and plan', () => {
  it('refuses --quantize without --lora in train, and in finetune-mcq, in one line naming the flag', () => {
    const r = mqg('train', '--init', join(BASE, 'model'), '--quantize', 'q4_0', '--data', join(BASE, 'tokens.bin'), '--out', join(dir, 'nolora'));
    expect(r.status).toBe(2); // a usage error
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--quantize q4_0 needs --lora/);
    expect(mqg('eval', '--checkpoint', join(BASE, 'model'), '--quantize', 'q5_0', ...evalFlags).stderr).toMatch(/--quantize.*q8_0, q4_0/);
    const f = mqg('finetune-mcq', '--init', join(BASE, 'model'), '--quantize', 'q4_0', '--data', join(BASE, 'batch.json'), '--out', join(dir, 'mcq'));
    expect(f.status).toBe(2);
    expect(f.stderr).toMatch(/mqg finetune-mcq: --quantize q4_0 needs --lora/);
  });

  it('mqg eval-mcq and mqg sample take --quantize (the scoring path serve shares, and generation)', () => {
    const tok = join(dir, 'tok500.json');
    expect(mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '500', '--out', tok).status).toBe(0);
    const r = mqg('eval-mcq', '--checkpoint', join(BASE, 'model'), '--adapter', join(Q4, 'adapter'), '--quantize', 'q4_0', '--tokenizer', tok, '--data', 'data/corpus/mcq.jsonl', '--limit', '3', '--json', '--precision', 'f32');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).questions).toBe(3);
    const s = mqg('sample', '--checkpoint', join(BASE, 'model'), '--tokenizer', tok, '--quantize', 'q8_0', '--prompt', 'the', '--max-tokens', '4', '--temperature', '0', '--precision', 'f32');
    expect(s.status, s.stderr).toBe(0);
    expect(s.stdout.trim().length).toBeGreaterThan(0);
  });

  it('mqg plan --quantize prints memoryPlan\'s weights (inference, and LoRA training)', async () => {
    const config = await readCheckpointConfig(join(BASE, 'model'));
    const r = mqg('plan', '--init', join(BASE, 'model'), '--quantize', 'q4_0', '--lora', '4', '--batch-size', '2', '--seq-len', '32', '--precision', 'f32', '--max-memory', '1G');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/base q4_0/);
    const lora = { r: 4, loraAlpha: 16, targetModules: ['c_attn'], loraDropout: 0, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' as const };
    const inf = memoryPlan({ config, B: 2, T: 32, precision: 'f32', training: false, quantize: 'q4_0', lora });
    const row = r.stdout.split('\n').find((l) => l.trim().startsWith('weights '))!;
    expect(row.trim().split(/\s{2,}/)[1]).toBe(fmtBytes(inf.weights));
  });
});
