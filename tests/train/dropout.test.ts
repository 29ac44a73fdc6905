// Dropout through `mqg train` (train/dropout.ts): a Hugging Face checkpoint whose config.json asks
// for dropout (hf-biomedlm-tiny: embd, resid and attn 0.1) trains with it by default and says so;
// --dropout 0 turns it off and --dropout P sets every rate; the rates are written into each
// checkpoint's config.json; a resumed run continues byte for byte as an uninterrupted one. And
// `mqg finetune-mcq --dropout P` (with the head's summary_first_dropout) and --lora-dropout.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mqg } from '../helpers/cli';

const fixture = join(__dirname, '../fixtures/hf-biomedlm-tiny');
const dir = mkdtempSync(join(tmpdir(), 'mqg-dropout-'));
const common = [
  '--init', join(fixture, 'model'), '--data', join(fixture, 'tokens.bin'), '--batch-size', '2', '--seq-len', '16', '--schedule', 'constant',
  '--warmup', '0', '--lr', '1e-3', '--eval-every', '0', '--precision', 'f32', '--sample-tokens', '0',
];
const losses = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l).loss as number);
const configOf = (out: string, step: number) => JSON.parse(readFileSync(join(out, 'checkpoints', `step-${String(step).padStart(6, '0')}`, 'config.json'), 'utf8'));

describe('mqg train with dropout', () => {
  it("trains with the checkpoint config's dropout by default, says so and writes it; --dropout 0 turns it off", () => {
    const on = mqg('train', ...common, '--steps', '2', '--out', join(dir, 'on'));
    expect(on.status, on.stderr).toBe(0);
    expect(on.stdout).toMatch(/dropout: embd 0\.1, resid 0\.1, attn 0\.1 \(the checkpoint's config/);
    expect(configOf(join(dir, 'on'), 2)).toMatchObject({ embd_pdrop: 0.1, resid_pdrop: 0.1, attn_pdrop: 0.1 });
    const off = mqg('train', ...common, '--steps', '2', '--dropout', '0', '--out', join(dir, 'off'));
    expect(off.status, off.stderr).toBe(0);
    expect(off.stdout).toMatch(/dropout: off \(--dropout\)/);
    expect(configOf(join(dir, 'off'), 2)).toMatchObject({ embd_pdrop: 0, resid_pdrop: 0, attn_pdrop: 0 });
    const set = mqg('train', ...common, '--steps', '1', '--dropout', '0.25', '--out', join(dir, 'set'));
    expect(set.stdout).toMatch(/dropout: embd 0\.25, resid 0\.25, attn 0\.25 \(--dropout\)/);
  });

  it('a resumed run with dropout equals an uninterrupted one, byte for byte', () => {
    const flags = [...common, '--log-format', 'jsonl', '--grad-accum', '2'];
    const straight = mqg('train', ...flags, '--steps', '4', '--out', join(dir, 'straight'));
    expect(straight.status, straight.stderr).toBe(0);
    const first = mqg('train', ...flags, '--steps', '2', '--out', join(dir, 'resumed'));
    expect(first.status, first.stderr).toBe(0);
    const rest = mqg('train', '--resume', '--steps', '4', '--log-format', 'jsonl', '--out', join(dir, 'resumed'));
    expect(rest.status, rest.stderr).toBe(0);
    const all = [...losses(first.stdout), ...losses(rest.stdout)];
    expect(all).toEqual(losses(straight.stdout));
    expect(new Set(all).size).toBe(4);
    // --dropout is part of the run: a different value on resume is refused
    expect(mqg('train', '--resume', '--steps', '5', '--dropout', '0', '--out', join(dir, 'resumed')).stderr).toMatch(/--dropout 0 differs/);
  });

  it('mqg finetune-mcq: --dropout sets the body and the summary dropout, --lora-dropout the adapters; both written out', () => {
    const tok = join(dir, 'tok.json');
    expect(mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '300', '--out', tok).status).toBe(0);
    const out = join(dir, 'mcq');
    const r = mqg('finetune-mcq', '--preset', 'mqg-tiny', '--tokenizer', tok, '--data', 'data/corpus/mcq.jsonl', '--val-split', '0.05', '--batch-size', '2',
      '--steps', '2', '--eval-every', '0', '--precision', 'f32', '--dropout', '0.1', '--lora', '4', '--lora-dropout', '0.05', '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dropout: embd 0\.1, resid 0\.1, attn 0\.1, summary 0\.1, lora 0\.05 \(--dropout\)/);
    expect(configOf(out, 2)).toMatchObject({ embd_pdrop: 0.1, resid_pdrop: 0.1, attn_pdrop: 0.1, summary_first_dropout: 0.1 });
    const adapter = JSON.parse(readFileSync(join(out, 'checkpoints', 'step-000002', 'adapter', 'adapter_config.json'), 'utf8'));
    expect(adapter.lora_dropout).toBe(0.05);
  });
});
