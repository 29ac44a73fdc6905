// `mqg merge` and `--adapter` end to end (from the built dist/): the merged checkpoint's forward
// equals the adapted model's; sample takes --adapter; bad adapters are clear errors.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAdaptedModel } from '../../src/model/lora.node';
import { readCheckpoint } from '../../src/model/checkpoint.node';
import { GPT2 } from '../../src/model/gpt2';
import { compare, getGPU } from '../helpers/gpu';
import { GOLDEN, HAVE_GOLDEN, goldenBatch } from './golden-data';

import { mqg } from '../helpers/cli';

if (!HAVE_GOLDEN) console.warn(`skipping the LoRA CLI tests: ${GOLDEN} is absent`);
const dir = mkdtempSync(path.join(tmpdir(), 'mqg-lora-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!HAVE_GOLDEN)('mqg merge / --adapter', () => {
  it('writes a merged HF checkpoint whose forward equals the adapted model', async () => {
    const out = path.join(dir, 'merged');
    const r = mqg('merge', '--init', path.join(GOLDEN, 'model'), '--adapter', path.join(GOLDEN, 'adapter'), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/r=4, alpha=8, 6 modules/);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'))).toMatchObject({ n_layer: 3, n_embd: 64, model_type: 'gpt2' });
    const gpu = await getGPU('f32');
    const { B, T, inputs, targets } = goldenBatch();
    const adapted = await loadAdaptedModel(gpu, path.join(GOLDEN, 'model'), path.join(GOLDEN, 'adapter'), { precision: 'f32', training: false });
    const ck = await readCheckpoint(out);
    expect(ck.config).toEqual(adapted.config);
    const merged = new GPT2(gpu, ck.config, { precision: 'f32', training: false });
    merged.loadWeights(ck.params);
    const la = await adapted.forward(inputs, targets, B, T);
    const logitsA = await adapted.logits();
    const lm = await merged.forward(inputs, targets, B, T);
    expect(Math.abs(la - lm)).toBeLessThan(1e-5);
    expect(compare(await merged.logits(), logitsA, 1e-4, 1e-4)).toBe('');
    adapted.destroy();
    merged.destroy();
  });

  it('mqg eval takes --adapter: the adapted loss is the golden first-step loss', () => {
    const exp = JSON.parse(readFileSync(path.join(GOLDEN, 'expected.json'), 'utf8'));
    const r = mqg('eval', '--checkpoint', path.join(GOLDEN, 'model'), '--adapter', path.join(GOLDEN, 'adapter'), '--data', path.join(GOLDEN, 'tokens.bin'),
      '--batch-size', '4', '--seq-len', '32', '--max-batches', '1', '--precision', 'f32', '--log-format', 'jsonl');
    expect(r.status, r.stderr).toBe(0);
    // the first batch of the stream is step 0's: its loss is the golden's first loss
    expect(Math.abs(JSON.parse(r.stdout.trim().split('\n').pop()!).loss - exp.stream.losses[0])).toBeLessThan(1e-4);
    const plain = mqg('eval', '--checkpoint', path.join(GOLDEN, 'model'), '--data', path.join(GOLDEN, 'tokens.bin'), '--batch-size', '4', '--seq-len', '32', '--max-batches', '1', '--precision', 'f32', '--log-format', 'jsonl');
    expect(JSON.parse(plain.stdout.trim().split('\n').pop()!).loss).not.toBeCloseTo(exp.stream.losses[0], 4);
  });

  it('refuses a bad adapter with the reason', () => {
    const r = mqg('merge', '--init', path.join(GOLDEN, 'model'), '--adapter', path.join(dir, 'missing'), '--out', path.join(dir, 'x'));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/adapter config .*does not exist/);
    expect(mqg('merge', '--init', path.join(GOLDEN, 'model')).stderr).toMatch(/--adapter is required/);
  });

  it('mqg eval-mcq takes --adapter (and names a missing one)', () => {
    const tok = path.join(dir, 'tok500.json');
    expect(mqg('tokenizer', 'train', '--text', 'data/corpus/questions.txt', '--vocab-size', '500', '--out', tok).status).toBe(0);
    const args = ['eval-mcq', '--checkpoint', path.join(GOLDEN, 'model'), '--tokenizer', tok, '--data', 'data/corpus/mcq.jsonl', '--limit', '3', '--json', '--precision', 'f32'];
    const r = mqg(...args, '--adapter', path.join(GOLDEN, 'adapter'));
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).questions).toBe(3);
    const bad = mqg(...args, '--adapter', path.join(dir, 'missing'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/adapter config .*missing.*does not exist/);
  });
});
