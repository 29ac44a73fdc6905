// LoRA through `mqg train`: the golden PEFT case (--init model --init-adapter adapter) reproduces
// its 10 losses; the run's checkpoint carries the adapter as a PEFT directory; --checkpoint-activations
// gives the same losses bit for bit; bad LoRA flags are clear errors.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readAdapter } from '../../src/model/peft.node';
import { readCheckpointConfig } from '../../src/model/checkpoint.node';
import { PRECISIONS } from '../helpers/gpu';
import { mqg } from '../helpers/cli';
import { GOLDEN, HAVE_GOLDEN, goldenExpected, modelHonoursInverseLayerIdx } from './golden-data';

const dir = mkdtempSync(path.join(tmpdir(), 'mqg-lora-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
if (!HAVE_GOLDEN) console.warn(`skipping LoRA through mqg train: ${GOLDEN} is absent`);
const TOL = { f32: 1e-4, f16: 1e-2 } as const;

function goldenFlags(): string[] {
  const exp = goldenExpected();
  const o = exp.stream.optimizer;
  return [
    '--init', path.join(GOLDEN, 'model'), '--init-adapter', path.join(GOLDEN, 'adapter'), '--data', path.join(GOLDEN, exp.stream.tokens),
    '--batch-size', String(exp.B), '--seq-len', String(exp.T), '--steps', String(exp.stream.steps), '--no-shuffle', '--schedule', 'constant', '--warmup', '0',
    '--lr', String(o.lr), '--beta1', String(o.beta1), '--beta2', String(o.beta2), '--eps', String(o.eps), '--weight-decay', String(o.weight_decay),
    '--grad-clip', '0', '--eval-every', '0', '--save-every', '0', '--log-format', 'jsonl', '--loss-scale', '1024',
    '--dropout', '0', // the golden losses are computed without dropout (the base's config.json asks for 0.1)
  ];
}
const losses = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{"step"')).map((l) => JSON.parse(l).loss as number);

const modelReady = HAVE_GOLDEN && (await modelHonoursInverseLayerIdx());
if (HAVE_GOLDEN && !modelReady) console.warn('skipping the golden LoRA losses through mqg train: the model does not yet honour scale_attn_by_inverse_layer_idx (branch model)');

describe.skipIf(!HAVE_GOLDEN)('mqg train --init-adapter (hf-biomedlm-tiny-lora)', () => {
  describe.skipIf(!modelReady).each(PRECISIONS)('%s', (precision) => {
    it('reproduces the 10 losses of training only the adapter', () => {
      const exp = goldenExpected();
      const r = mqg('train', ...goldenFlags(), '--precision', precision, '--out', path.join(dir, `golden-${precision}`));
      expect(r.status, r.stderr).toBe(0);
      const got = losses(r.stdout);
      expect(got).toHaveLength(10);
      got.forEach((l, i) => expect(Math.abs(l - exp.stream.losses[i]), `step ${i}`).toBeLessThanOrEqual(TOL[precision]));
    });
  });

  it('saves the adapter as PEFT files in the checkpoint; --checkpoint-activations gives the same losses bit for bit', async () => {
    const flags = [...goldenFlags().map((f) => (f === '10' ? '3' : f)), '--precision', 'f32'];
    const plain = mqg('train', ...flags, '--out', path.join(dir, 'plain'));
    expect(plain.status, plain.stderr).toBe(0);
    const ckpt = mqg('train', ...flags, '--checkpoint-activations', '--out', path.join(dir, 'ckpt'));
    expect(ckpt.status, ckpt.stderr).toBe(0);
    expect(losses(plain.stdout)).toHaveLength(3);
    expect(losses(ckpt.stdout)).toEqual(losses(plain.stdout));
    const cks = path.join(dir, 'plain', 'checkpoints');
    const last = readdirSync(cks).sort().pop()!;
    const adapterDir = path.join(cks, last, 'adapter');
    expect(existsSync(path.join(adapterDir, 'adapter_config.json'))).toBe(true);
    const config = await readCheckpointConfig(path.join(GOLDEN, 'model'));
    const saved = await readAdapter(adapterDir, config);
    const start = await readAdapter(path.join(GOLDEN, 'adapter'), config);
    expect(saved.lora).toMatchObject({ r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_fc'] });
    expect([...saved.weights.keys()]).toEqual([...start.weights.keys()]);
    // trained: the adapter moved
    const a0 = start.weights.get('transformer.h.0.attn.c_attn')!.A, a1 = saved.weights.get('transformer.h.0.attn.c_attn')!.A;
    expect(a1.some((v, i) => v !== a0[i])).toBe(true);
    // and the run resumes from it
    const more = mqg('train', '--resume', '--steps', '4', '--out', path.join(dir, 'plain'), '--log-format', 'jsonl');
    expect(more.status, more.stderr).toBe(0);
    expect(losses(more.stdout)).toHaveLength(1);
  });

  it('refuses LoRA flags it cannot honour, naming them', () => {
    const base = ['--init', path.join(GOLDEN, 'model'), '--data', path.join(GOLDEN, 'tokens.bin'), '--batch-size', '1', '--seq-len', '8', '--steps', '1', '--out', path.join(dir, 'bad')];
    expect(mqg('train', ...base, '--lora', '4', '--lora-targets', 'q_proj').stderr).toMatch(/target_modules entry "q_proj" matches no module/);
    expect(mqg('train', ...base, '--init-adapter', path.join(GOLDEN, 'adapter'), '--lora', '8').stderr).toMatch(/--lora 8 differs from the r 4/);
    expect(mqg('train', ...base, '--init-adapter', path.join(dir, 'none')).stderr).toMatch(/--init-adapter: no such adapter directory/);
  });
});
