// `mqg finetune-mcq --lora`: the head and the adapters train, the body stays as it was; each
// checkpoint holds a PEFT adapter directory beside the head; --resume continues it; eval-mcq reads
// it with --adapter.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mqg } from '../helpers/cli';
import { parseSafetensors, toFloat32 } from '../../src/model/source/safetensors';

const dir = mkdtempSync(join(tmpdir(), 'mqg-mcq-lora-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const tensors = (file: string) => new Map([...parseSafetensors(new Uint8Array(readFileSync(file)), file).tensors].map(([k, t]) => [k, toFloat32(t, k)]));
const jsonLines = (s: string) => s.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

describe('mqg finetune-mcq --lora', () => {
  it('trains the head and the adapters on a frozen body, saves a PEFT adapter, resumes, and eval-mcq reads it', () => {
    const tok = join(dir, 'tok.json');
    expect(mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '300', '--out', tok).status).toBe(0);
    const common = ['--data', 'data/corpus/mcq.jsonl', '--val-split', '0.05', '--batch-size', '2', '--lr', '1e-2', '--eval-every', '0', '--precision', 'f32', '--log-format', 'jsonl'];
    let r = mqg('finetune-mcq', '--preset', 'mqg-tiny', '--tokenizer', tok, ...common, '--steps', '1', '--out', join(dir, 'base'));
    expect(r.status, r.stderr).toBe(0);
    const base = join(dir, 'base', 'checkpoints', 'step-000001');
    const run = join(dir, 'lora');
    r = mqg('finetune-mcq', '--init', base, ...common, '--steps', '2', '--save-every', '1', '--keep-last', '3', '--lora', '4', '--lora-alpha', '8', '--lora-targets', 'c_attn,c_fc', '--out', run);
    expect(r.status, r.stderr).toBe(0);
    expect(jsonLines(r.stdout).map((x) => x.step)).toEqual([1, 2]);
    const ck = join(run, 'checkpoints', 'step-000002');
    const before = tensors(join(base, 'model.safetensors')), after = tensors(join(ck, 'model.safetensors'));
    for (const [k, v] of before) {
      if (k.startsWith('multiple_choice_head.')) expect(after.get(k), k).not.toEqual(v); // the head trained
      else expect(after.get(k), k).toEqual(v); // the body did not
    }
    const cfg = JSON.parse(readFileSync(join(ck, 'adapter', 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, fan_in_fan_out: true });
    const ad = tensors(join(ck, 'adapter', 'adapter_model.safetensors'));
    expect([...ad.keys()].sort()).toContain('base_model.model.transformer.h.0.attn.c_attn.lora_B.weight');
    const B = ad.get('base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight')!;
    expect(B.some((x) => x !== 0)).toBe(true); // B starts at zero: the adapters trained

    // --resume continues from the adapter (a different rank is refused)
    r = mqg('finetune-mcq', '--resume', '--out', run, '--lora', '8');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--lora 8 differs from the run's 4/);
    r = mqg('finetune-mcq', '--resume', '--out', run, '--steps', '3', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    const resumed = jsonLines(r.stdout);
    expect(resumed.map((x) => x.step)).toEqual([3]);
    // the resumed step is the one an uninterrupted run takes (same adapter, head and moments)
    r = mqg('finetune-mcq', '--init', base, ...common, '--steps', '3', '--lora', '4', '--lora-alpha', '8', '--lora-targets', 'c_attn,c_fc', '--out', join(dir, 'straight'));
    expect(r.status, r.stderr).toBe(0);
    const straight = jsonLines(r.stdout).map((x) => x.loss);
    expect(straight[2]).toBe(resumed[0].loss);
    // --checkpoint-activations recomputes each block in backward: the same losses
    r = mqg('finetune-mcq', '--init', base, ...common, '--steps', '3', '--lora', '4', '--lora-alpha', '8', '--lora-targets', 'c_attn,c_fc', '--checkpoint-activations', '--out', join(dir, 'ckpt-act'));
    expect(r.status, r.stderr).toBe(0);
    expect(jsonLines(r.stdout).map((x) => x.loss)).toEqual(straight);
    // what cannot be honoured is refused, naming the command and flag
    r = mqg('finetune-mcq', '--init', base, ...common, '--lora', '4', '--lora-dropout', '1', '--out', join(dir, 'bad'));
    expect(r.stderr).toMatch(/mqg finetune-mcq: --lora-dropout must be < 1/);
    r = mqg('finetune-mcq', '--init', base, ...common, '--lora', '4', '--freeze-body', '--out', join(dir, 'bad'));
    expect(r.stderr).toMatch(/--freeze-body and --lora \/ --init-adapter exclude each other/);
    const B3 = tensors(join(run, 'checkpoints', 'step-000003', 'adapter', 'adapter_model.safetensors')).get('base_model.model.transformer.h.0.mlp.c_fc.lora_B.weight')!;
    expect(B3).not.toEqual(B);

    r = mqg('eval-mcq', '--checkpoint', ck, '--adapter', join(ck, 'adapter'), '--data', 'data/corpus/mcq.jsonl', '--limit', '4', '--json');
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    expect(rep.scorer).toBe('head');
    expect(rep.metrics.overall.questions).toBe(4);
    expect(rep.adapter).toBe(join(ck, 'adapter'));
    // without --adapter, the run's own adapter (newest checkpoint) is applied, not the bare base
    r = mqg('eval-mcq', '--checkpoint', run, '--data', 'data/corpus/mcq.jsonl', '--limit', '2', '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).adapter).toBe(join(run, 'checkpoints', 'step-000003', 'adapter'));
  }, 300_000);
});
