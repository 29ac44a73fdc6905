// The memory plan against what GPT2 really allocates (model.memoryReport(): GPU buffer sizes).
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/index';
import { memoryPlan, memoryRefusal, largestFittingBatch, formatMemoryTable } from '../../src/model/memory';
import { PRECISIONS, getGPU } from '../helpers/gpu';
import { expectPlanMatchesAllocation } from '../helpers/memory';

const config = makeConfig({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 500 });
const untied = makeConfig({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 300, nInner: 96, tieWordEmbeddings: false });

describe.each(PRECISIONS)('memoryPlan (%s)', (precision) => {
  it.each([[2, 16, 1], [3, 64, 1], [4, 32, 40000]] as const)('matches model.memoryReport() at B=%i, T=%i (banks of at most %i elements where set)', async (B, T, bank) => {
    const gpu = await getGPU(precision);
    const maxBankElements = bank > 1 ? bank : undefined;
    for (const [training, cfg] of [[true, config], [false, config], [true, untied]] as const) {
      expectPlanMatchesAllocation(gpu, { config: cfg, B, T, precision, training, maxBankElements });
    }
  });
});

describe('memory refusal', () => {
  it('says what does not fit, with the figures and the largest batch that fits', () => {
    const plan = memoryPlan({ config, B: 8, T: 64, precision: 'f32' });
    const budget = memoryPlan({ config, B: 3, T: 64, precision: 'f32' }).total + 1000;
    expect(largestFittingBatch({ config, T: 64, precision: 'f32' }, budget)).toBe(3);
    const msg = memoryRefusal({ config, B: 8, T: 64, precision: 'f32' }, budget, '--max-memory')!;
    expect(msg).toMatch(/^training at B=8, T=64, f32 needs [\d.]+ MiB \(weights .*\), over the [\d.]+ MiB budget \(--max-memory\); --batch-size 3 at --seq-len 64 \(B\*T = 192\) fits/);
    expect(memoryRefusal({ config, B: 3, T: 64, precision: 'f32' }, budget, 'x')).toBeUndefined();
    expect(plan.total).toBeGreaterThan(budget);
    expect(formatMemoryTable(memoryPlan({ config, B: 1, T: 64, precision: 'f32', training: false }), plan)).toMatch(/kvCache .*\n.*\n  total/);
  });
});

describe('mqg plan and the trainer refuse what does not fit, before allocating', () => {
  it('mqg plan prints the table and the verdict', async () => {
    const { mqg } = await import('../helpers/cli');
    const { join } = await import('node:path');
    let r = mqg('plan', '--init', join(__dirname, '../fixtures/gpt2-tiny/init.safetensors'), '--batch-size', '4', '--seq-len', '64', '--precision', 'f32', '--max-memory', '4M');
    expect(r.status, r.stderr).toBe(0);
    const cfg = makeConfig({ nLayer: 2, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 512 });
    const p = memoryPlan({ config: cfg, B: 4, T: 64, precision: 'f32' });
    expect(r.stdout).toMatch(/model: 2 layers, 4 heads, width 64, context 64, vocab 512 \| B=4 T=64 f32/);
    expect(r.stdout).toMatch(new RegExp(`adamMoments +0\\.0 KiB +${(p.adamMoments / 2 ** 20).toFixed(1).replace('.', '\\.')} MiB`));
    expect(r.stdout).toContain(`training does not fit: training at B=4, T=64, f32 needs ${(p.total / 2 ** 20).toFixed(1)} MiB`);
    expect(r.stdout).toMatch(/--batch-size \d at --seq-len 64 .* fits/);
    r = mqg('plan', '--preset', 'mqg-tiny', '--init', 'x');
    expect([r.status, r.stderr.trim()]).toEqual([2, 'error: mqg plan: give exactly one of --init C and --preset P']);
    r = mqg('plan', '--preset', 'gpt2', '--max-memory', 'lots');
    expect([r.status, r.stderr.trim()]).toEqual([2, 'error: --max-memory must be a size such as 8G, 512M or a byte count; got "lots"']);
  });

  it('mqg train --max-memory refuses with the figures', async () => {
    const { train } = await import('../../src/train/trainer.node');
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const gpu = await getGPU('f32');
    const out = join(mkdtempSync(join(tmpdir(), 'mqg-mem-')), 'run');
    await expect(train({ vocabSize: 300, batchSize: 64, seqLen: 256, precision: 'f32', maxMemory: '20M', out, mcq: '' }, () => {}, gpu)).rejects.toThrow(
      /^mqg train: training at B=64, T=256, f32 needs [\d.]+ MiB \(weights .*\), over the 20\.0 MiB budget \(--max-memory 20M\); --batch-size 1 --seq-len \d+ fits/,
    );
  });
});
