// The memory plan (memory.ts) for LoRA and activation checkpointing against what GPT2 allocates,
// and the refusal of full fine-tuning that points at LoRA.
import { describe, expect, it } from 'vitest';
import { makeConfig } from '../../src/index';
import { memoryPlan, memoryRefusal } from '../../src/model/memory';
import type { LoraConfig } from '../../src/model/peft';
import '../../src/train/lora.node';
import { PRECISIONS, getGPU } from '../helpers/gpu';
import { expectPlanMatchesAllocation } from '../helpers/memory';

const config = makeConfig({ nLayer: 3, nHead: 4, nEmbd: 64, nPositions: 64, vocabSize: 500 });
const lora: LoraConfig = { r: 4, loraAlpha: 8, targetModules: ['c_attn', 'c_fc'], loraDropout: 0, baseModelNameOrPath: null, taskType: 'CAUSAL_LM' };

describe.each(PRECISIONS)('memoryPlan with LoRA / checkpointing (%s)', (precision) => {
  it.each([[false, true], [true, false], [true, true]] as const)('lora %s, checkpointing %s: matches model.memoryReport()', async (withLora, checkpointActivations) => {
    const gpu = await getGPU(precision);
    const B = 2, T = 24;
    expectPlanMatchesAllocation(gpu, { config, B, T, precision, training: true, lora: withLora ? lora : undefined, checkpointActivations });
  });
});

describe('refusing full fine-tuning', () => {
  it('gives the figures and says that LoRA fits', () => {
    const big = makeConfig({ nLayer: 8, nHead: 8, nEmbd: 512, nPositions: 256, vocabSize: 8000 });
    const i = { config: big, B: 1, T: 128, precision: 'f16' as const };
    const full = memoryPlan({ ...i, training: true }).total;
    const withLora = memoryPlan({ ...i, training: true, lora: { ...lora, r: 8 } }).total;
    expect(withLora).toBeLessThan(full / 4);
    const why = memoryRefusal(i, Math.floor((full + withLora) / 2), 'a test budget')!;
    expect(why).toMatch(/needs .*GiB|MiB/);
    expect(why).toMatch(/LoRA fits: --lora 8 --lora-targets c_attn,c_fc needs/);
  });
});
