// `mqg finetune-mcq --lora --quantize q4_0` (QLoRA) on the tiny BioMedLM-shaped golden base: the
// checkpoints hold the adapter and mc_head.safetensors (the head, the --init base, the type), no
// model.safetensors; eval-mcq and serve of a checkpoint load the recorded base, quantize it again and
// score as the run's own validation did; --resume continues bit for bit and refuses another --quantize.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mqg } from '../helpers/cli';
import { getGPU } from '../helpers/gpu';
import { parseSafetensors } from '../../src/model/source/safetensors';
import { openServeEngine } from '../../src/train/serve/open.node';
import { readMcqSource } from '../../src/train/data/mcq-source.node';

const BASE = join(__dirname, '../fixtures/hf-biomedlm-tiny/model');
const HAVE = existsSync(join(BASE, 'config.json'));
if (!HAVE) console.warn(`skipping finetune-mcq --quantize: ${BASE} is absent`);
// each command compiles the quantized GEMM's pipelines afresh: minutes on a loaded software adapter
vi.setConfig({ testTimeout: 600_000, hookTimeout: 600_000 });

const dir = mkdtempSync(join(tmpdir(), 'mqg-mcq-quantized-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const jsonLines = (s: string) => s.trim().split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l));
const header = (file: string) => parseSafetensors(new Uint8Array(readFileSync(file)), file);
const TRAIN = join(dir, 'train.jsonl'), VAL = join(dir, 'val.jsonl'), TOK = join(dir, 'tok.json');

const flags = (out: string, steps: number, more: string[] = []) => [
  '--init', BASE, '--tokenizer', TOK, '--data', TRAIN, '--val-data', VAL, '--batch-size', '2', '--lr', '1e-2', '--eval-every', '0',
  '--precision', 'f32', '--lora', '4', '--lora-targets', 'c_attn,c_fc', '--quantize', 'q4_0', '--log-format', 'jsonl', '--steps', String(steps), '--out', out, ...more,
];

describe.skipIf(!HAVE)('mqg finetune-mcq --lora 4 --quantize q4_0', () => {
  const run = join(dir, 'straight');
  let straight: { step: number; loss: number }[] = [];
  beforeAll(() => {
    const lines = readFileSync('data/corpus/mcq.jsonl', 'utf8').trim().split('\n');
    writeFileSync(TRAIN, lines.slice(0, -8).join('\n') + '\n');
    writeFileSync(VAL, lines.slice(-8).join('\n') + '\n');
    expect(mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '500', '--out', TOK).status).toBe(0);
    const r = mqg('finetune-mcq', ...flags(run, 4));
    expect(r.status, r.stderr).toBe(0);
    straight = jsonLines(r.stdout);
  });

  it('saves the adapter and the head with the record of the base, no model.safetensors (best/ too)', () => {
    expect(straight.map((x) => x.step)).toEqual([1, 2, 3, 4]);
    for (const ck of [join(run, 'checkpoints', 'step-000004'), join(run, 'best', 'checkpoints', 'step-000004')]) {
      expect(existsSync(join(ck, 'model.safetensors')), ck).toBe(false);
      for (const f of ['adapter/adapter_model.safetensors', 'adapter/adapter_config.json', 'mc_head.safetensors', 'train_state.safetensors', 'tokenizer.json', 'config.json']) expect(existsSync(join(ck, f)), f).toBe(true);
      const head = header(join(ck, 'mc_head.safetensors'));
      expect([...head.tensors.keys()].sort()).toEqual(['multiple_choice_head.summary.bias', 'multiple_choice_head.summary.weight']);
      expect(head.metadata).toMatchObject({ base_model: resolve(BASE), base_quantization: 'q4_0', mcq_head: 'multiple-choice', n_embd: '64' });
      const state = JSON.parse(header(join(ck, 'train_state.safetensors')).metadata.state!);
      expect(state.base).toEqual({ source: resolve(BASE), quantize: 'q4_0' });
      expect(JSON.parse(readFileSync(join(ck, 'adapter', 'adapter_config.json'), 'utf8'))).toMatchObject({ r: 4, base_model_name_or_path: BASE });
    }
  });

  it('eval-mcq of the run scores as its own final validation; another --quantize is honoured with a note', () => {
    const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8'));
    const r = mqg('eval-mcq', '--checkpoint', run, '--data', VAL, '--precision', 'f32', '--json');
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(got.adapter).toBe(join(run, 'checkpoints', 'step-000004', 'adapter'));
    expect(got.metrics).toEqual(report.validation);
    const q8 = mqg('eval-mcq', '--checkpoint', run, '--data', VAL, '--precision', 'f32', '--quantize', 'q8_0', '--limit', '2');
    expect(q8.status, q8.stderr).toBe(0);
    expect(q8.stderr).toMatch(/--quantize q8_0: .*mc_head\.safetensors was trained on its base quantized q4_0; loading the base q8_0 as asked/);
  });

  it('serve of the run: the base quantized q4_0 again, the adapter and the head; the validation answers as the run scored them', async () => {
    const gpu = await getGPU('f32');
    const s = await openServeEngine({ checkpoint: run, gpu, maxQueue: 1 });
    try {
      expect(s.engine.model.quantizedBase?.type).toBe('q4_0');
      expect(s.engine.head?.kind).toBe('multiple-choice');
      expect(s.adapterDir).toBe(join(run, 'checkpoints', 'step-000004', 'adapter'));
      const recs = (await readMcqSource(VAL, { format: 'auto' })).records;
      let right = 0;
      for (const q of recs) right += (await s.engine.scoreMcq({ question: q.question, options: q.options })).answer[0] === q.answer[0] ? 1 : 0;
      const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8'));
      expect(right / recs.length).toBe(report.validation.overall.accuracy);
    } finally {
      s.destroy();
    }
  });

  it('--resume re-quantizes the base from --init and continues bit for bit; another --quantize is refused', () => {
    const out = join(dir, 'interrupted');
    let r = mqg('finetune-mcq', ...flags(out, 2));
    expect(r.status, r.stderr).toBe(0);
    const first = jsonLines(r.stdout);
    r = mqg('finetune-mcq', '--resume', '--out', out, '--steps', '4', '--quantize', 'q8_0');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--quantize "q8_0" differs from the run's "q4_0"/);
    r = mqg('finetune-mcq', '--resume', '--out', out, '--steps', '4', '--log-format', 'text');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/base quantized q4_0: 12 block matmul weights/);
    const resumed = JSON.parse(`[${readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').join(',')}]`);
    expect(first.map((x) => x.loss)).toEqual(straight.slice(0, 2).map((x) => x.loss));
    expect(resumed.map((x: { loss: number }) => x.loss)).toEqual(straight.map((x) => x.loss));
  });

  it('refuses what it cannot honour, in one line naming the flag', () => {
    let r = mqg('finetune-mcq', '--init', BASE, '--tokenizer', TOK, '--data', TRAIN, '--quantize', 'q4_0', '--out', join(dir, 'no-lora'));
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/mqg finetune-mcq: --quantize q4_0 needs --lora/);
    r = mqg('finetune-mcq', '--preset', 'mqg-tiny', '--tokenizer', TOK, '--data', TRAIN, '--lora', '4', '--quantize', 'q4_0', '--out', join(dir, 'preset'));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mqg finetune-mcq: --quantize q4_0 needs --init/);
  });
});
